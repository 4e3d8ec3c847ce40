export * from './expr.js';
export * from './spec.js';
export * from './shapes.js';
export { evaluate } from './evaluate.js';
export { diff, NotDifferentiableError } from './diff.js';
