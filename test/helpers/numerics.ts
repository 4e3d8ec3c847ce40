// The comparison and the seeded random source the tests share with the product.
export { relL2 } from '../../runtime/compare.js';
export { seededRandom as rng } from '../../runtime/sample.js';
