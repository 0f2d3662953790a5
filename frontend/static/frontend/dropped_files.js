/* The files of a drop, folders walked through their entries (FileSystemEntry), each named by its path inside the
 * drop. Apart from the upload page so that node can test the walk with mock entries; it touches no DOM. */

function entryFile(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function entryChildren(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

/** Every file below one entry, as {file, name} with the name prefixed by the folders above it. */
async function entryFiles(entry, prefix) {
  if (entry.isFile) return [{file: await entryFile(entry), name: prefix + entry.name}];
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const children = [];
  // readEntries answers in batches (Chromium: at most 100 entries) until it answers an empty one.
  for (let batch = await entryChildren(reader); batch.length; batch = await entryChildren(reader)) {
    children.push(...batch);
  }
  const nested = await Promise.all(children.map((child) => entryFiles(child, `${prefix}${entry.name}/`)));
  return nested.flat();
}

/** Every file below the dropped entries, once each, as {file, name}; rejects if one cannot be read. */
export async function filesFromEntries(entries) {
  const lists = await Promise.all(entries.map((entry) => entryFiles(entry, "")));
  return lists.flat();
}

/** The files of a drop event's DataTransfer: walked through its entries where the browser gives them, else its
 * flat file list. Call it before the drop handler's first await: the drop's items are emptied once it returns. */
export function droppedFiles(dataTransfer) {
  const entries = [...(dataTransfer.items || [])].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry())
    .filter(Boolean);
  if (!entries.length) return Promise.resolve([...dataTransfer.files].map((file) => ({file, name: file.name})));
  return filesFromEntries(entries);
}
