// The store's public surface (the only module that imports Dexie is this folder).
export * from './schema.js';
export * from './errors.js';
export * from './datasets.js';
export * from './import.js';
export * from './backup.js';
export * from './storage.js';
export * from './labels.js';
export * from './browse.js';
export * from './runs.js';
export * from './refcache.js';
export * from './loop.js';
export * from './kernel-tuning.js';
