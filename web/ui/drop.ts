// Files dropped on the page: a target highlighted while something is dragged over it, and what
// was dropped read into paths and bytes (folders walked, in the order the browser lists them).
export interface DroppedFile {
  path: string;
  bytes: Uint8Array;
}

/** Makes `element` take dropped files: highlighted while something is dragged over it. */
export function dropTarget(element: HTMLElement, use: (e: DragEvent) => void): void {
  element.addEventListener('dragover', (e) => {
    e.preventDefault();
    element.classList.add('over');
  });
  element.addEventListener('dragleave', () => element.classList.remove('over'));
  element.addEventListener('drop', (e) => {
    e.preventDefault();
    element.classList.remove('over');
    use(e);
  });
}

/**
 * Every file dropped, with its path: below a single dropped folder, paths start inside it;
 * otherwise with each dropped item's name. `folders` says whether any folder was dropped.
 */
export async function droppedFiles(transfer: DataTransfer): Promise<{ files: DroppedFile[]; folders: boolean }> {
  // The items can be read only during the drop event: their entries and files are taken first.
  const items = [...transfer.items].filter((i) => i.kind === 'file');
  const entries = items.map((i) => i.webkitGetAsEntry());
  const loose = items.map((i, k) => (entries[k] ? null : i.getAsFile()));
  const files: DroppedFile[] = [];
  const walk = async (entry: FileSystemEntry, path: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      files.push({ path, bytes: new Uint8Array(await file.arrayBuffer()) });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, path ? `${path}/${child.name}` : child.name);
    }
  };
  const single = entries.length === 1 && entries[0]?.isDirectory === true;
  for (const [k, entry] of entries.entries()) {
    if (entry) await walk(entry, single ? '' : entry.name);
    else if (loose[k]) files.push({ path: loose[k].name, bytes: new Uint8Array(await loose[k].arrayBuffer()) });
  }
  return { files, folders: entries.some((e) => e?.isDirectory) };
}
