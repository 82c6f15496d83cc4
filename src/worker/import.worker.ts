// The import Worker: parsing, format mapping, staged writes, exports and backups run here, off
// the main thread, so a 500 MB import never freezes the page. It opens the same IndexedDB
// workspace as the page (src/db); the page is told to re-read when a job ends.
import * as Comlink from 'comlink';
import { openWorkspace, type PrefDb } from '../db/index.js';
import { createDataApi } from './import-api.js';

let db: Promise<PrefDb> | null = null;

function workspace(): Promise<PrefDb> {
  db ??= openWorkspace();
  return db;
}

Comlink.expose(createDataApi(workspace));
