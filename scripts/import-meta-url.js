// Injected into the CommonJS bundle (scripts/bundle.mjs) in place of import.meta.url, which
// CommonJS has not: the bundle file's own URL, as src/ expects when it finds files beside itself.
export const import_meta_url = require('node:url').pathToFileURL(__filename).href;
