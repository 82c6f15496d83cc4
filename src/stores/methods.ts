// The method registry (src/engine/methods) as the pages read it: methods with their labels, what
// they do and their TRL mapping, and every setting with its name, help and default. The pages
// take it from here, not from the engine, as they take everything else from the stores.
export { METHOD_IDS, METHODS, isMethodId, type MethodId } from '../engine/methods/registry.js';
export { SETTINGS, type SettingPath } from '../engine/methods/settings.js';
export { settingToText } from '../engine/methods/text.js';
