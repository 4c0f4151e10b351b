// Finding the images of folder: and imagenet: specs and their labels, without decoding them
// (so without sharp): listing, and checking a file's first bytes.
// Listings are sorted (code-unit order) so that image indices, caches and batches are the same
// on every machine. Files that cannot be images are reported here; files that fail to decode
// are reported later, by the decoder.
// Links: a link to a regular file is followed; a link to a folder only when the folder lies
// outside the data set (a link into it would list images twice, or under another class, and
// `l -> .` would recurse forever), and each real folder is listed once (no cycles); devices,
// FIFOs and sockets (a link to /dev/zero) are skipped, never read.
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { DataError } from '../core/errors.js';
import { SPLIT_NAMES, type SkippedFile, type SplitName } from './dataset.js';
import { imageHeaderProblem } from './pixels.js';

/** Extensions taken as images (any case); any other file is reported as skipped. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

export interface SplitListing {
  /** Image files, absolute. */
  files: string[];
  labels: number[];
  /** Files already known to be unusable (wrong extension, no label), relative to the root. */
  skipped: SkippedFile[];
}

export interface Listing {
  /** `kind:absolute-root`, the cache's record of where the images came from. */
  source: string;
  root: string;
  /** The folder holding the training class folders. */
  trainDir: string;
  classIds: string[];
  classes: string[];
  splits: Partial<Record<SplitName, SplitListing>>;
}

/** Synset-name files (`n01440764 tench, Tinca tinca` per line), tried in this order. */
export const SYNSET_FILES = ['LOC_synset_mapping.txt', 'synset_words.txt'];
/** ImageNet validation ground truth: Kaggle's CSV, or a plain `<file> <wnid>` list. */
export const VAL_TRUTH_FILES = ['LOC_val_solution.csv', 'val_labels.txt'];

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function requireDirectory(dir: string, what: string): Promise<void> {
  const problem = await stat(dir).then(
    (s) => (s.isDirectory() ? null : 'is not a directory'),
    () => 'does not exist',
  );
  if (problem !== null) throw new DataError(`${what} ${dir} ${problem}`);
}

const inside = (folder: string, path: string) => path === folder || path.startsWith(folder + sep);

/** What a directory entry is, links resolved: a folder to list, a file to read, or a skip reason. */
async function kindOf(root: string, path: string, entry: { isSymbolicLink(): boolean; isDirectory(): boolean; isFile(): boolean }): Promise<'dir' | 'file' | string> {
  if (!entry.isSymbolicLink()) {
    if (entry.isDirectory()) return 'dir';
    return entry.isFile() ? 'file' : 'not a regular file (a device, FIFO or socket): not read';
  }
  const target = await stat(path).catch(() => null);
  if (target === null) return 'broken symbolic link';
  if (target.isFile()) return 'file';
  if (!target.isDirectory()) return 'symbolic link to something that is not a regular file (a device, FIFO or socket): not read';
  const real = await realpath(path);
  return inside(root, real) ? `symbolic link to ${relative(root, real) || '.'}, a folder of this data set: not followed` : 'dir';
}

interface Entries {
  dirs: string[];
  files: string[];
  skipped: SkippedFile[];
}

/** Folders (sorted), files (sorted) and skipped entries of `dir` in the data set under `root`. */
async function entries(root: string, dir: string): Promise<Entries> {
  const all = await readdir(dir, { withFileTypes: true });
  const kinds = await Promise.all(all.map((e) => kindOf(root, join(dir, e.name), e)));
  const out: Entries = { dirs: [], files: [], skipped: [] };
  all.forEach((e, i) => {
    if (kinds[i] === 'dir') out.dirs.push(e.name);
    else if (kinds[i] === 'file') out.files.push(e.name);
    else out.skipped.push({ file: relative(root, join(dir, e.name)), reason: kinds[i] });
  });
  out.dirs.sort(byCodeUnit);
  out.files.sort(byCodeUnit);
  return out;
}

/**
 * Every file under `dir`, depth first, sorted at each level, and what was skipped; `seen`
 * holds the real folders listed so far, so a cycle of links outside the data set ends.
 */
async function walk(root: string, dir: string, seen = new Set<string>()): Promise<{ files: string[]; skipped: SkippedFile[] }> {
  const real = await realpath(dir);
  if (seen.has(real)) return { files: [], skipped: [{ file: relative(root, dir), reason: 'folder already listed through another link (a cycle): not followed' }] };
  seen.add(real);
  const { dirs, files, skipped } = await entries(root, dir);
  const out = { files: files.map((f) => join(dir, f)), skipped };
  for (const d of dirs) {
    const nested = await walk(root, join(dir, d), seen);
    out.files.push(...nested.files);
    out.skipped.push(...nested.skipped);
  }
  return out;
}

const isImageName = (file: string) => IMAGE_EXTENSIONS.includes(extname(file).toLowerCase());

function notAnImage(root: string, file: string): SkippedFile {
  return { file: relative(root, file), reason: `not an image file (extension "${extname(file)}"; expected ${IMAGE_EXTENSIONS.join(', ')})` };
}

/**
 * Images of a class-per-subfolder directory, labelled by their folder's index in `classIds`.
 * Training folders define the classes and must each hold images; in val/test folders, files of
 * classes not trained on are skipped.
 */
async function classFolders(root: string, dir: string, classIds: string[], training: boolean): Promise<SplitListing> {
  const { dirs, files, skipped } = await entries(root, dir);
  const listing: SplitListing = { files: [], labels: [], skipped };
  for (const f of files) listing.skipped.push({ file: relative(root, join(dir, f)), reason: 'not inside a class folder' });
  for (const name of dirs) {
    const label = classIds.indexOf(name);
    const { files: found, skipped: links } = await walk(root, join(dir, name));
    listing.skipped.push(...links);
    if (training && !found.some(isImageName)) throw emptyClass(join(dir, name), `none of its files is named ${IMAGE_EXTENSIONS.join(', ')}`);
    for (const f of found) {
      if (label < 0) {
        listing.skipped.push({ file: relative(root, f), reason: `class "${name}" is not among the training classes` });
      } else if (isImageName(f)) {
        listing.files.push(f);
        listing.labels.push(label);
      } else {
        listing.skipped.push(notAnImage(root, f));
      }
    }
  }
  return listing;
}

/** A training class without images, found by its file names or after decoding: one error. */
export function emptyClass(classDir: string, why: string): DataError {
  return new DataError(`class folder ${classDir} has no usable images (${why}); every training class needs one at least`);
}

function checkClasses(dir: string, classIds: string[]): void {
  if (classIds.length === 0) throw new DataError(`${dir} has no class folders: expected one subfolder of images per class`);
  if (classIds.length === 1) throw new DataError(`${dir} has one class folder ("${classIds[0]}"): classification needs at least two`);
}

/**
 * `folder:DIR`: DIR/<class>/... images; or split folders DIR/train/<class>/..., with optional
 * DIR/val and DIR/test using the training classes. Class folders are searched recursively.
 */
export async function scanFolder(dir: string): Promise<Listing> {
  await requireDirectory(resolve(dir), 'image folder');
  const root = await realpath(dir);
  const top = await entries(root, root);
  const splitDirs = SPLIT_NAMES.filter((s) => top.dirs.includes(s));
  const trainDir = splitDirs.length > 0 ? join(root, 'train') : root;
  if (splitDirs.length > 0 && !splitDirs.includes('train')) {
    throw new DataError(`image folder ${root} has ${splitDirs.join('/')} but no train/ folder`);
  }
  const classIds = (await entries(root, trainDir)).dirs;
  checkClasses(trainDir, classIds);
  const listing: Listing = { source: `folder:${root}`, root, trainDir, classIds, classes: classIds, splits: {} };
  for (const split of splitDirs.length > 0 ? splitDirs : (['train'] as SplitName[])) {
    listing.splits[split] = await classFolders(root, split === 'train' ? trainDir : join(root, split), classIds, split === 'train');
  }
  if (splitDirs.length > 0) {
    for (const f of top.files) listing.splits.train!.skipped.push({ file: f, reason: 'not inside a split or class folder' });
    listing.splits.train!.skipped.push(...top.skipped);
  }
  return listing;
}

/** wnid -> name from a synset file, or null when DIR has none. */
async function synsetNames(root: string): Promise<Map<string, string> | null> {
  for (const name of SYNSET_FILES) {
    const text = await readFile(join(root, name), 'utf8').catch(() => null);
    if (text === null) continue;
    const names = new Map<string, string>();
    for (const line of text.split(/\r?\n/)) {
      const m = /^(\S+)\s+(.*\S)/.exec(line);
      if (m) names.set(m[1], m[2]);
    }
    return names;
  }
  return null;
}

/** Image base name (no extension) -> wnid, from the first ground-truth file present. */
async function valTruth(root: string): Promise<{ file: string; truth: Map<string, string> }> {
  for (const name of VAL_TRUTH_FILES) {
    const file = join(root, name);
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text === null) continue;
    const truth = new Map<string, string>();
    for (const [n, line] of text.split(/\r?\n/).entries()) {
      if (line.trim() === '' || (n === 0 && line.startsWith('ImageId'))) continue;
      // CSV: "ILSVRC2012_val_00008726,n02119789 255 142 454 329 ..." (first box's wnid);
      // list: "ILSVRC2012_val_00008726.JPEG n02119789".
      const m = /^([^,\s]+)[,\s]+(\S+)/.exec(line.trim());
      if (!m) throw new DataError(`${file}, line ${n + 1}: expected "<image> <wnid>", found "${line}"`);
      truth.set(m[1].replace(/\.[^.]*$/, ''), m[2]);
    }
    return { file, truth };
  }
  throw new DataError(`${root}/val has no ground truth: expected one of ${VAL_TRUTH_FILES.join(', ')} in ${root} (or val/<wnid>/ folders)`);
}

/**
 * `imagenet:DIR`, the ILSVRC-2012 layout: DIR/train/<wnid>/*.JPEG; optional DIR/val, either
 * flat with a ground-truth file in DIR (VAL_TRUTH_FILES) or as val/<wnid>/ folders; class names
 * from a synset file in DIR (SYNSET_FILES) when present. DIR/test (unlabelled) is not used.
 */
export async function scanImagenet(dir: string): Promise<Listing> {
  await requireDirectory(resolve(dir), 'ImageNet directory');
  const root = await realpath(dir);
  await requireDirectory(join(root, 'train'), 'ImageNet training folder');
  const classIds = (await entries(root, join(root, 'train'))).dirs;
  checkClasses(join(root, 'train'), classIds);
  const names = await synsetNames(root);
  const missing = names ? classIds.filter((id) => !names.has(id)) : [];
  if (missing.length > 0) {
    throw new DataError(`${root}: ${missing.length} training classes (${missing.slice(0, 3).join(', ')}...) are missing from its synset file`);
  }
  const listing: Listing = {
    source: `imagenet:${root}`, root, trainDir: join(root, 'train'), classIds, classes: classIds.map((id) => names?.get(id) ?? id),
    splits: { train: await classFolders(root, join(root, 'train'), classIds, true) },
  };
  const valDir = join(root, 'val');
  const val = await stat(valDir).then((s) => s.isDirectory(), () => false);
  if (!val) return listing;
  const { dirs, files, skipped } = await entries(root, valDir);
  if (dirs.length > 0) {
    listing.splits.val = await classFolders(root, valDir, classIds, false);
    return listing;
  }
  const { file: truthFile, truth } = await valTruth(root);
  const split: SplitListing = { files: [], labels: [], skipped };
  for (const f of files) {
    const path = join(valDir, f);
    const wnid = truth.get(f.replace(/\.[^.]*$/, ''));
    const label = wnid === undefined ? -1 : classIds.indexOf(wnid);
    if (!isImageName(f)) split.skipped.push(notAnImage(root, path));
    else if (wnid === undefined) split.skipped.push({ file: relative(root, path), reason: `no entry in ${truthFile}` });
    else if (label < 0) split.skipped.push({ file: relative(root, path), reason: `class ${wnid} is not among the training classes` });
    else {
      split.files.push(path);
      split.labels.push(label);
    }
  }
  listing.splits.val = split;
  return listing;
}

/** The listing of a folder: or imagenet: spec. */
export async function scanSource(spec: string): Promise<Listing> {
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon);
  const dir = spec.slice(colon + 1);
  if (colon > 0 && dir !== '') {
    if (kind === 'folder') return scanFolder(dir);
    if (kind === 'imagenet') return scanImagenet(dir);
  }
  throw new DataError(`"${spec}" is not an image-file spec: expected folder:DIR or imagenet:DIR`);
}

/** Checks only a file's first bytes (fast; for inspecting without decoding). */
export async function checkHeader(path: string): Promise<string | null> {
  try {
    const file = await open(path);
    try {
      const head = new Uint8Array(12);
      const { bytesRead } = await file.read(head, 0, head.length, 0);
      return imageHeaderProblem(head.subarray(0, bytesRead), bytesRead);
    } finally {
      await file.close();
    }
  } catch (err) {
    return `cannot read (${(err as Error).message})`;
  }
}
