// What an output-stage kernel's time is made of, for forward-edits.mjs (any variant's `output`
// on the subgroup-matrix lowering): each edit removes one kind of work, under a uniform branch the
// compiler cannot fold (`P.T == 0xffffffffu`), so the layout stays the plan's. Timing only: the
// edited kernels compute garbage.
const never = 'P.T == 0xffffffffu';
const globalLoad = /(x_v\d*(?:\[stg\])?) = ((?:P\.scale \* )?(?:role4_\w+\([^;]*\)|b_hs\[[^;]*\]));/g;
const mma = /(\w+) = subgroupMatrixMultiplyAccumulate\(([^;]*)\);/g;
export default {
  'staging reads no memory': [[globalLoad, (_, x, e) => `if (${never}) { ${x} = ${e}; } else { ${x} = vec4<f32>(0.01); }`]],
  'no products': [[mma, (_, a, e) => `if (${never}) { ${a} = subgroupMatrixMultiplyAccumulate(${e}); }`]],
  'no barriers': [['workgroupBarrier();', '']],
  'no fragment stores to storage': [[/subgroupMatrixStore\(&b_o, ([^;]*)\);/g, (_, e) => `if (${never}) { subgroupMatrixStore(&b_o, ${e}); }`]],
  'staging reads no memory, no products': [[globalLoad, (_, x, e) => `if (${never}) { ${x} = ${e}; } else { ${x} = vec4<f32>(0.01); }`], [mma, (_, a, e) => `if (${never}) { ${a} = subgroupMatrixMultiplyAccumulate(${e}); }`]],
};
