// The browse Worker: the dataset browser's scans (search, filters, statistics, deduplication,
// split) and its edits with undo, off the page's main thread. It opens the same IndexedDB
// workspace as the page (src/db); id lists go back as transferred buffers (no copy).
import * as Comlink from 'comlink';
import { PrefDb } from '../db/index.js';
import { createBrowseApi, type BrowseApi } from './browse-api.js';

let db: Promise<PrefDb> | null = null;

/** Opened without openWorkspace's clean-up of staged datasets: an import may be writing one in
 *  the import Worker right now. */
function workspace(): Promise<PrefDb> {
  db ??= (async () => {
    const d = new PrefDb();
    await d.open();
    return d;
  })();
  return db;
}

const api = createBrowseApi(workspace);
const exposed: BrowseApi = {
  ...api,
  async browse(jobId, datasetId, filter, onProgress) {
    const r = await api.browse(jobId, datasetId, filter, onProgress);
    return Comlink.transfer(r, [r.ids.buffer]);
  },
};
Comlink.expose(exposed);
