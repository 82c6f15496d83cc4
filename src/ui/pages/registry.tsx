// The pages: their titles, icons and components, in workflow order (the store owns the ids).
import type { ComponentType } from 'react';
import { PAGES, type PageId } from '../../stores/navigation.js';
import { DataIcon, EvaluateIcon, ExportIcon, LabelIcon, LoopIcon, ModelsIcon, TrainIcon, type IconProps } from '../components/Icons.js';
import { DataPage } from './DataPage.js';
import { EvaluatePage } from './EvaluatePage.js';
import { ExportPage } from './ExportPage.js';
import { LabelPage } from './LabelPage.js';
import { LoopPage } from './LoopPage.js';
import { ModelsPage } from './ModelsPage.js';
import { TrainPage } from './TrainPage.js';

export interface PageInfo {
  title: string;
  Icon: ComponentType<IconProps>;
  Component: ComponentType;
}

const INFO: Record<PageId, PageInfo> = {
  models: { title: 'Models', Icon: ModelsIcon, Component: ModelsPage },
  data: { title: 'Data', Icon: DataIcon, Component: DataPage },
  label: { title: 'Label', Icon: LabelIcon, Component: LabelPage },
  train: { title: 'Train', Icon: TrainIcon, Component: TrainPage },
  loop: { title: 'Loop', Icon: LoopIcon, Component: LoopPage },
  evaluate: { title: 'Evaluate', Icon: EvaluateIcon, Component: EvaluatePage },
  export: { title: 'Export', Icon: ExportIcon, Component: ExportPage },
};

export const PAGE_ORDER: readonly PageId[] = PAGES;

export function pageInfo(page: PageId): PageInfo {
  return INFO[page];
}
