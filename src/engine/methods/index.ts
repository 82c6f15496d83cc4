// The method registry: methods (registry.ts), their loss types (loss-types.ts), every setting of a
// run (settings.ts), the text codec the CLI and the Train page share (text.ts), and reading a
// run's settings from PrefStudio or TRL JSON (import-config.ts).
export * from './registry.js';
export * from './loss-types.js';
export * from './settings.js';
export * from './text.js';
export * from './import-config.js';
