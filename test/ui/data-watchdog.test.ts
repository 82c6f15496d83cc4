// A parser stuck in a synchronous loop (seen with a corrupted Parquet page) never reads the
// cancel message: the import service then terminates its Worker after a grace period, and the
// job fails as cancelled instead of hanging the page's import forever.
import { describe, expect, it, vi } from 'vitest';
import { withWatchdog, type DataApi } from '../../src/services/data.js';

function fakeRemote(stopsOnCancel: boolean) {
  const cancelled: string[] = [];
  let finish: (() => void) | null = null;
  const remote = {
    detect: vi.fn(),
    importFile: () =>
      new Promise((resolve) => {
        finish = () => resolve({ datasetId: 'd', datasetName: 'n', written: 1, rejected: 0, errors: [] });
      }),
    cancel: (jobId: string) => {
      cancelled.push(jobId);
      if (stopsOnCancel) finish?.();
    },
    exportDataset: vi.fn(),
    backup: vi.fn(),
    restore: vi.fn(),
  } as unknown as DataApi;
  return { remote, cancelled };
}

const args = ['file', 'f.jsonl', {}, { name: 'n' }, () => {}, async () => false] as unknown as Parameters<DataApi['importFile']> extends [string, ...infer R] ? R : never;

describe('import Worker watchdog', () => {
  it('terminates a Worker that ignores cancel and rejects the job as cancelled', async () => {
    const { remote, cancelled } = fakeRemote(false);
    const terminate = vi.fn();
    const api = withWatchdog(remote, terminate, 30);
    const job = api.importFile('job-1', ...args);
    api.cancel('job-1');
    await expect(job).rejects.toMatchObject({ name: 'AbortError', message: expect.stringContaining('terminated') });
    expect(cancelled).toEqual(['job-1']);
    expect(terminate).toHaveBeenCalledTimes(1);
  });

  it('leaves a Worker that stops in time alone', async () => {
    const { remote } = fakeRemote(true);
    const terminate = vi.fn();
    const api = withWatchdog(remote, terminate, 30);
    const job = api.importFile('job-2', ...args);
    api.cancel('job-2');
    await expect(job).resolves.toMatchObject({ written: 1 });
    await new Promise((r) => setTimeout(r, 60));
    expect(terminate).not.toHaveBeenCalled();
  });
});
