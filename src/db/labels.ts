// Labels given on the Label page. Each decision is one transaction: the record it makes goes into
// the labelled dataset's companion dataset ("<name> · labels", created on the first label), and
// the label row points at it; undo removes both. Nothing is half-saved, and closing the tab after
// a keypress loses nothing.
import { assertRecord } from '../data/validate.js';
import { getDataset, newId, recount } from './datasets.js';
import { DatasetNotFoundError, isQuotaError, StorageFullError } from './errors.js';
import { emptyCounts, type DatasetRow, type LabelRow, type PrefDb, type StoredRecord } from './schema.js';

export type NewLabel = Omit<LabelRow, 'id' | 'recordId' | 'outputDatasetId'>;

/** The dataset that holds the labels of `sourceId`, if one was made. */
export async function findLabelDataset(db: PrefDb, sourceId: string): Promise<DatasetRow | undefined> {
  const all = await db.datasets.where('status').equals('ready').toArray();
  return all.find((d) => d.labelsOf === sourceId);
}

/** Saves a decision and the record it makes (null for a skip) at once. */
export async function saveLabel(db: PrefDb, label: NewLabel, record: unknown | null): Promise<{ labelId: number; recordId?: number; outputDatasetId?: string }> {
  const valid = record === null ? null : assertRecord(record);
  try {
    return await db.transaction('rw', db.datasets, db.records, db.labels, async () => {
      const source = await getDataset(db, label.sourceDatasetId);
      if (!source) throw new DatasetNotFoundError(label.sourceDatasetId);
      if (!valid) {
        const labelId = (await db.labels.add({ ...label })) as number;
        return { labelId };
      }
      let output = await findLabelDataset(db, source.id);
      if (!output) {
        const now = Date.now();
        output = { id: newId(), name: `${source.name} · labels`, createdAt: now, updatedAt: now, status: 'ready', counts: emptyCounts(), labelsOf: source.id };
        await db.datasets.add(output);
      }
      const recordId = (await db.records.add({ ...valid, datasetId: output.id })) as number;
      await recount(db, output.id);
      const labelId = (await db.labels.add({ ...label, recordId, outputDatasetId: output.id })) as number;
      return { labelId, recordId, outputDatasetId: output.id };
    });
  } catch (e) {
    if (isQuotaError(e)) throw new StorageFullError('storage is full: the label was not saved (free space, then label again)', valid ? [valid] : [], e);
    throw e;
  }
}

/** Removes a label and the record it wrote; returns the label (undefined if it was gone). */
export async function undoLabel(db: PrefDb, labelId: number): Promise<LabelRow | undefined> {
  return db.transaction('rw', db.datasets, db.records, db.labels, async () => {
    const label = await db.labels.get(labelId);
    if (!label) return undefined;
    await db.labels.delete(labelId);
    if (label.recordId !== undefined) {
      await db.records.delete(label.recordId);
      if (label.outputDatasetId && (await db.datasets.get(label.outputDatasetId))) await recount(db, label.outputDatasetId);
    }
    return label;
  });
}

/** An annotator's labels on a dataset, oldest first. */
export async function labelsOf(db: PrefDb, sourceId: string, annotator: string): Promise<LabelRow[]> {
  return db.labels.where('[sourceDatasetId+annotator]').equals([sourceId, annotator]).sortBy('id');
}

/** Every label of the workspace whose task was labelled by more than one label (agreement). */
export async function labelsOfSharedTasks(db: PrefDb): Promise<LabelRow[]> {
  const keys = new Map<string, number>();
  await db.labels.orderBy('taskKey').eachKey((k) => void keys.set(k as string, (keys.get(k as string) ?? 0) + 1));
  const shared = [...keys].filter(([, n]) => n > 1).map(([k]) => k);
  if (shared.length === 0) return [];
  return db.labels.where('taskKey').anyOf(shared).toArray();
}

/** The ids of a dataset's records in id order (the label queue holds only these). */
export async function recordIds(db: PrefDb, datasetId: string): Promise<number[]> {
  if (!(await getDataset(db, datasetId))) throw new DatasetNotFoundError(datasetId);
  return (await db.records.where('datasetId').equals(datasetId).primaryKeys()) as number[];
}

export async function getRecords(db: PrefDb, ids: number[]): Promise<(StoredRecord | undefined)[]> {
  return db.records.bulkGet(ids);
}
