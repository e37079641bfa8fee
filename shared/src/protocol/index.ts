export * from './errors.js';
export * from './json.js';
export * from './messages.js';
export * from './frame.js';
export * from './hash-codec.js';
