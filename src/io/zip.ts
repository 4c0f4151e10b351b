// A ZIP reader for torch.save archives: the central directory lists the entries, each entry's
// data is read on request. Every offset and size is checked against the file before use; an
// entry's CRC-32 is verified; stored entries are returned as views (no copy) and deflated ones
// are inflated with the output capped at their declared size.
import { inflateSync } from 'fflate';
import { crc32 } from '../core/bytes.js';
import { FormatError } from '../core/errors.js';

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
/** Deflate cannot compress better than about 1032:1; a larger declared ratio is a lie. */
const MAX_DEFLATE_RATIO = 1032;

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

export class ZipArchive {
  private readonly entries = new Map<string, Entry>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const eocd = this.findEnd();
    const v = this.view;
    const count = v.getUint16(eocd + 10, true);
    const cdSize = v.getUint32(eocd + 12, true);
    const cdOffset = v.getUint32(eocd + 16, true);
    if (v.getUint16(eocd + 4, true) !== 0 || v.getUint16(eocd + 8, true) !== count) this.fail('multi-disk archives are not supported');
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      this.fail('ZIP64 archive (over 4 GiB or 65,535 entries) is not supported');
    }
    if (cdOffset + cdSize > eocd) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) overlaps its end record at ${eocd}`);
    let at = cdOffset;
    for (let i = 0; i < count; i++) {
      if (at + CENTRAL_SIZE > cdOffset + cdSize || v.getUint32(at, true) !== CENTRAL_SIGNATURE) {
        this.fail(`central directory entry ${i} at byte ${at} is missing or cut short`);
      }
      const nameLength = v.getUint16(at + 28, true);
      const next = at + CENTRAL_SIZE + nameLength + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
      if (next > cdOffset + cdSize) this.fail(`central directory entry ${i} runs past the directory`);
      const name = this.text(at + CENTRAL_SIZE, nameLength, `entry ${i} name`);
      if (this.entries.has(name)) this.fail(`entry "${name}" appears twice`);
      this.entries.set(name, {
        name,
        flags: v.getUint16(at + 8, true),
        method: v.getUint16(at + 10, true),
        crc: v.getUint32(at + 16, true),
        compressedSize: v.getUint32(at + 20, true),
        uncompressedSize: v.getUint32(at + 24, true),
        localOffset: v.getUint32(at + 42, true),
      });
      at = next;
    }
  }

  private fail(fault: string): never {
    throw new FormatError(this.file, `ZIP: ${fault}`);
  }

  private text(start: number, length: number, what: string): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(start, start + length));
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  /** The end-of-central-directory record: the last 22 bytes, or earlier if a comment follows. */
  private findEnd(): number {
    const last = this.bytes.length - EOCD_SIZE;
    for (let at = last; at >= 0 && at >= last - 0xffff; at--) {
      // The comment length must reach exactly to the end, so a signature inside a comment
      // is not mistaken for the record.
      if (this.view.getUint32(at, true) === EOCD_SIGNATURE && at + EOCD_SIZE + this.view.getUint16(at + 20, true) === this.bytes.length) {
        return at;
      }
    }
    return this.fail('no end-of-central-directory record (not a ZIP file, or truncated)');
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry's uncompressed bytes: a view for stored entries, a new buffer for deflated. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) return this.fail(`no entry "${name}"`);
    const v = this.view;
    const where = `entry "${name}"`;
    if (e.flags & 1) this.fail(`${where} is encrypted`);
    if (e.localOffset + LOCAL_SIZE > this.bytes.length || v.getUint32(e.localOffset, true) !== LOCAL_SIGNATURE) {
      this.fail(`${where}: no local header at byte ${e.localOffset}`);
    }
    const start = e.localOffset + LOCAL_SIZE + v.getUint16(e.localOffset + 26, true) + v.getUint16(e.localOffset + 28, true);
    const end = start + e.compressedSize;
    if (end > this.bytes.length) this.fail(`${where}: data [${start}, ${end}) runs past the ${this.bytes.length}-byte file (truncated?)`);
    const raw = this.bytes.subarray(start, end);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.uncompressedSize) this.fail(`${where}: stored, but sizes differ (${e.compressedSize} vs ${e.uncompressedSize})`);
      data = raw;
    } else if (e.method === 8) {
      if (e.uncompressedSize > MAX_DEFLATE_RATIO * e.compressedSize + 64) {
        this.fail(`${where}: declared size ${e.uncompressedSize} is beyond what ${e.compressedSize} deflated bytes can hold`);
      }
      try {
        // Inflated into exactly the declared size: a stream that would grow past it cannot
        // allocate more (and then fails the length or CRC check below).
        data = inflateSync(raw, { out: new Uint8Array(e.uncompressedSize) });
      } catch (err) {
        return this.fail(`${where}: cannot inflate (${(err as Error).message})`);
      }
      if (data.length !== e.uncompressedSize) this.fail(`${where}: inflated to ${data.length} bytes, declared ${e.uncompressedSize}`);
    } else {
      return this.fail(`${where}: compression method ${e.method} is not supported (stored or deflate only)`);
    }
    if (crc32(data) !== e.crc) this.fail(`${where}: CRC-32 mismatch (corrupted)`);
    return data;
  }
}
