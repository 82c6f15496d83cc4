// The Export page's TRL hand-off card, rendered to HTML: the base model's Hub id is a required
// field whose validation message shows, with the download button disabled, until there is one
// (typed, or the model's own from its metadata).
import 'fake-indexeddb/auto';
import React, { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExportPanel } from '../../src/ui/export/ExportPanel.js';
import { useExportStore } from '../../src/stores/export.js';
import type { AdapterData, LoadedModel } from '../../src/services/export.js';

const initial = useExportStore.getState();
const model = (nameOrPath?: string) => ({ arch: 'llama', parameterCount: 1000, configFiles: { config: nameOrPath ? { _name_or_path: nameOrPath } : {} } }) as unknown as LoadedModel;
const adapter = (baseModel: string) => ({ baseModel, lora: { r: 4, lora_alpha: 8, use_rslora: false }, tensors: new Map() }) as unknown as AdapterData;
const render = () => renderToStaticMarkup(createElement(ExportPanel));
/** The TRL download button's tag. */
const trlButton = (html: string) => html.match(/<button[^>]*data-testid="export-download-trl"[^>]*>/)![0];

beforeEach(() => {
  useExportStore.setState(initial, true);
  // A server render reads a store's initial state (getServerSnapshot): read the state each test sets.
  vi.spyOn(React, 'useSyncExternalStore').mockImplementation((_subscribe, getSnapshot) => getSnapshot());
});
afterEach(() => vi.restoreAllMocks());

describe('Export page: the TRL hand-off base model', () => {
  it('is required: without a Hub id the message shows and the download is disabled', () => {
    useExportStore.setState({ model: model('/tmp/export'), adapter: adapter('/home/me/models/tiny'), modules: 2, handoffData: { kind: 'studio', datasetId: 'd' } });
    const html = render();
    expect(html).toMatch(/<input[^>]*required=""[^>]*aria-invalid="true"[^>]*data-testid="export-trl-base-model"/);
    expect(html).toContain('data-testid="export-trl-base-model-error"');
    expect(html).toContain('no Hub id for the base model: the adapter&#x27;s base_model_name_or_path is &quot;/home/me/models/tiny&quot; (a local path); config.json&#x27;s _name_or_path is &quot;/tmp/export&quot; (a local path)');
    expect(trlButton(html)).toContain('disabled=""');
  });

  it('takes the model’s own Hub id, shown in the placeholder, and enables the download', () => {
    useExportStore.setState({ model: model('HuggingFaceTB/SmolLM2-135M-Instruct'), adapter: adapter('tiny'), modules: 2, handoffData: { kind: 'studio', datasetId: 'd' } });
    const html = render();
    expect(html).not.toContain('export-trl-base-model-error');
    expect(html).toContain('placeholder="HuggingFaceTB/SmolLM2-135M-Instruct"');
    expect(html).toContain('Empty: <code>HuggingFaceTB/SmolLM2-135M-Instruct</code>, from config.json&#x27;s _name_or_path.');
    expect(trlButton(html)).not.toContain('disabled');
  });
});
