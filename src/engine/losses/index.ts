// Preference objectives: the registry's methods on the kernels (methods.ts), TRL's metrics, the
// GPU step and the kernels' vocabulary (terms.ts). Kernels: kernels/{preference,kto,listwise}-loss.ts;
// CPU twins: cpu/*-loss.ts.
export * from './methods.js';
export * from './metrics.js';
export * from './step.js';
export { DPO_METRICS, KTO_NSTATS, KTO_STATS, LISTWISE_NSTATS, LISTWISE_STATS, PAIR_NSTATS, PAIR_STATS } from './terms.js';
