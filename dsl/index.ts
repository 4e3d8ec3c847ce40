export * from './expr.js';
export * from './spec.js';
export * from './shapes.js';
export { evaluate } from './evaluate.js';
export { diff } from './diff.js';
export * from './preambles.js';
