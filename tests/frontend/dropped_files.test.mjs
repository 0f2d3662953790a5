// Run by tests/frontend/test_dropped_files.py through node: walks mock drop entries, prints the results as JSON.
import {droppedFiles, filesFromEntries} from "../../frontend/static/frontend/dropped_files.js";

const BATCH = 100;  // Chromium's most entries per readEntries call
const readCalls = {};

// Like the browser's entries, the mocks answer through callbacks, later (not before the call returns).
const later = (callback, value) => setTimeout(() => callback(value), 0);

function fileEntry(name, {fails = false} = {}) {
  return {
    name, isFile: true, isDirectory: false,
    file(resolve, reject) { fails ? later(reject, new Error(`${name} is unreadable`)) : later(resolve, {id: name}); },
  };
}

function folderEntry(name, children) {
  return {
    name, isFile: false, isDirectory: true,
    createReader() {
      let at = 0;
      return {
        readEntries(resolve) {
          readCalls[name] = (readCalls[name] || 0) + 1;
          const batch = children.slice(at, at + BATCH);
          at += batch.length;
          later(resolve, batch);
        },
      };
    },
  };
}

const range = (n, make) => Array.from({length: n}, (_, i) => make(i));

// A patient folder of 250 files: 130 at its top, a series of 110 with a subfolder of 10 below it; a zip beside it.
const drop = [
  folderEntry("patient", [
    ...range(130, (i) => fileEntry(`img${i}.dcm`)),
    folderEntry("series2", [...range(110, (i) => fileEntry(`s${i}.dcm`)),
                            folderEntry("extra", range(10, (i) => fileEntry(`e${i}.dcm`)))]),
  ]),
  fileEntry("study.zip"),
  {name: "odd", isFile: false, isDirectory: false},  // neither: skipped
];

const files = await filesFromEntries(drop);
const dropReadCalls = {...readCalls};
const failed = await filesFromEntries([folderEntry("broken", [fileEntry("ok.dcm"), fileEntry("bad.dcm", {fails: true})])])
  .then(() => null, (error) => error.message);
// A drop without entries (an older browser): its flat file list, by name.
const flat = await droppedFiles({items: [], files: [{name: "a.dcm"}, {name: "b.zip"}]});

console.log(JSON.stringify({
  files: files.map(({file, name}) => ({id: file.id, name})),
  readCalls: dropReadCalls,
  failed,
  flat: flat.map(({file, name}) => ({id: file.name, name})),
}));
