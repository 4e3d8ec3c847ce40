// The variant spec: what a user writes, and the validated, normalized form codegen consumes.
import { Expr, input, inputsOf, lift, formatExpr, UNARY_OPS, BINARY_OPS, type ExprNode, type Operand } from './expr.js';

/** Problem dimensions an input's shape is written in (FLA's time-first layout). */
export type Dim = 'B' | 'T' | 'H' | 'K' | 'V';
export const DIMS: readonly Dim[] = ['B', 'T', 'H', 'K', 'V'];

/** How the state decays per step: not at all, by a per-(token, head) scalar, by a per-head
 * constant (retention), or per key dimension (GLA, KDA, RWKV6). */
export type DecayKind = 'none' | 'scalar' | 'fixed' | 'diagonal';
/** How the state is corrected per step, besides the k v^T write: not at all; the delta rule's
 * rank-1 correction (DeltaNet family: beta); or the generalized delta rule, a diagonal plus
 * low-rank transition (FLA's DPLR, RWKV-7: S_t = (D_t + b_t a_t^T) S_{t-1} + k_t v_t^T). */
export type CorrectionKind = 'none' | 'delta' | 'dplr';
/** RWKV6's bonus: the output reads `S_{t-1} + diag(u) k v^T`; the state update comes after. */
export type BonusKind = 'none' | 'u';
/** The normalized form (RWKV-4's wkv, FLA's normalize=True in exponent space): 'exp' makes the
 * key a log-weight, accumulated as exp(k) into the numerator state S (times v) and into a
 * denominator state z (alone), and o = scale (q^T S) / (q^T z). Each key row keeps a running
 * maximum p of its exponents and S, z are stored scaled by exp(-p) (BlinkDL's aa, bb, pp), so
 * exp never overflows: the state has V + 2 columns, [S e^-p | z e^-p | p]. */
export type NormalizeKind = 'none' | 'exp';
/** State layout: K-first `[B,H,K,V]` (FLA) or V-first `[B,H,V,K]` (mamba, inference engines). */
export type StateLayout = 'kv' | 'vk';

/** Roles an expression can fill, with the index space each is evaluated over. */
export type Role = 'q' | 'k' | 'v' | 'logDecay' | 'beta' | 'a' | 'b' | 'u' | 'outputAdd' | 'outputGate';
export const ROLE_DIMS: Record<Role, readonly Dim[]> = {
  q: ['B', 'T', 'H', 'K'],
  k: ['B', 'T', 'H', 'K'],
  v: ['B', 'T', 'H', 'V'],
  logDecay: ['B', 'T', 'H', 'K'], // the K axis only for diagonal decay; see decayDims()
  beta: ['B', 'T', 'H'],
  a: ['B', 'T', 'H', 'K'],
  b: ['B', 'T', 'H', 'K'],
  u: ['H', 'K'],
  outputAdd: ['B', 'T', 'H', 'V'],
  outputGate: ['B', 'T', 'H', 'V'],
};

export type InputHandles<I extends string> = { readonly [N in I]: Expr };
type RoleFn<I extends string> = (x: InputHandles<I>) => Operand;

interface SpecBase<I extends string> {
  /** Lower-case identifier; used in kernel names and the pipeline cache key. */
  name: string;
  description?: string;
  /** Every input the variant takes, by name, with its shape in problem dims. */
  inputs: { readonly [N in I]: readonly Dim[] };
  q: RoleFn<I>;
  k: RoleFn<I>;
  v: RoleFn<I>;
  /** Added to the output after the attention term (mamba2's `D * x`). Not scaled. */
  outputAdd?: RoleFn<I>;
  /** Multiplies the output after outputAdd: o = (attention + outputAdd) * outputGate, as
   * o * silu(z) in gated models. Not scaled. */
  outputGate?: RoleFn<I>;
  /** Default output scale: `'rsqrtK'` (FLA's K^-0.5) or a number (mamba2: 1). */
  scale?: 'rsqrtK' | number;
  /** 'exp': the normalized form (see NormalizeKind); default 'none'. */
  normalize?: NormalizeKind;
  /** Layout of h0/ht; default 'kv'. */
  stateLayout?: StateLayout;
  /** Roles L2-normalized along K after their expression (FLA's use_qk_l2norm_in_kernel):
   * x * rsqrt(sum(x^2) + eps), eps 1e-6 (FLA's l2norm default) unless given as
   * `{ roles: ['q', 'k'], eps: 1e-5 }`. Fused into the kernels, with its backward. */
  l2norm?: readonly ('q' | 'k')[] | { readonly roles: readonly ('q' | 'k')[]; readonly eps?: number };
}

/** The l2norm preamble's epsilon when a spec gives none: FLA's l2norm default. */
export const DEFAULT_L2NORM_EPS = 1e-6;
/** The smallest l2norm epsilon a spec may give: f32 keeps it as a normal number, so the kernels
 * add what the float64 reference adds. */
export const MIN_L2NORM_EPS = 1e-30;

/** Decay: either none, or a kind together with its natural-log decay (<= 0) expression. */
export type DecaySpec<I extends string> =
  | { decay: 'none'; logDecay?: undefined }
  | { decay: 'scalar' | 'fixed' | 'diagonal'; logDecay: RoleFn<I> };
/** The generalized delta rule (FLA's chunk_dplr_delta_rule, its names): in FLA's K-first
 * orientation, S_t = diag(exp(g_t)) S_{t-1} + b_t (a_t^T S_{t-1}) + k_t v_t^T, then
 * o_t = scale S_t^T q_t. Note a reads the state before this step's decay (FLA's "first matmul
 * then decay"). RWKV-7: a = -kk, b = kk * a_lr. */
export type CorrectionSpec<I extends string> =
  | { correction: 'none'; beta?: undefined; a?: undefined; b?: undefined }
  | { correction: 'delta'; beta: RoleFn<I>; a?: undefined; b?: undefined }
  | { correction: 'dplr'; a: RoleFn<I>; b: RoleFn<I>; beta?: undefined };
export type BonusSpec<I extends string> =
  | { bonus?: 'none'; u?: undefined }
  | { bonus: 'u'; u: RoleFn<I> };

export type VariantSpec<I extends string = string> =
  SpecBase<I> & DecaySpec<I> & CorrectionSpec<I> & BonusSpec<I>;

export interface InputDecl { readonly name: string; readonly dims: readonly Dim[] }

/** The validated spec: plain data (expression trees), what codegen and the reference read. */
export interface VariantDef {
  readonly name: string;
  readonly description: string;
  readonly inputs: readonly InputDecl[];
  readonly decay: DecayKind;
  readonly correction: CorrectionKind;
  readonly bonus: BonusKind;
  /** 'exp': o = num / den with the running maximum (NormalizeKind); the state has V + 2 columns. */
  readonly normalize: NormalizeKind;
  readonly scale: 'rsqrtK' | number;
  readonly stateLayout: StateLayout;
  /** Roles normalized along K (see VariantSpec.l2norm); empty when none. */
  readonly l2norm: readonly ('q' | 'k')[];
  /** The normalization's epsilon: x * rsqrt(sum(x^2) + l2normEps). */
  readonly l2normEps: number;
  readonly roles: Readonly<Partial<Record<Role, ExprNode>>>;
  /** Stable hash of everything above: part of every pipeline cache key. */
  readonly hash: string;
}

export class SpecError extends Error {
  constructor(spec: string, field: string, message: string) {
    super(`invalid variant spec '${spec}': field '${field}': ${message}`);
    this.name = 'SpecError';
  }
}

const NAME_RE = /^[a-z][a-z0-9_]*$/;
const INPUT_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
const RESERVED_INPUTS = new Set(['h0', 'ht', 'o', 'do', 'dht']);

export function decayDims(kind: DecayKind): readonly Dim[] {
  switch (kind) {
    case 'diagonal': return ['B', 'T', 'H', 'K'];
    case 'scalar': return ['B', 'T', 'H'];
    case 'fixed': return ['H'];
    case 'none': return [];
  }
}

function oneOf<T extends string>(spec: string, field: string, value: unknown, allowed: readonly T[], dflt?: T): T {
  if (value === undefined && dflt !== undefined) return dflt;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new SpecError(spec, field, `got ${JSON.stringify(value)}; allowed: ${allowed.map((a) => `'${a}'`).join(' | ')}`);
}

/** Validates a spec and turns it into a VariantDef. Every error names the field at fault. */
export function defineVariant<I extends string>(spec: VariantSpec<I>): VariantDef {
  const raw = spec as unknown as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null) throw new SpecError('?', 'spec', 'a spec must be an object');
  const name = raw.name;
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new SpecError(String(name), 'name', `must match ${NAME_RE} (lower-case identifier), got ${JSON.stringify(name)}`);
  }
  const known = new Set(['name', 'description', 'inputs', 'q', 'k', 'v', 'outputAdd', 'outputGate', 'scale', 'stateLayout', 'l2norm', 'normalize',
    'decay', 'logDecay', 'correction', 'beta', 'a', 'b', 'bonus', 'u']);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new SpecError(name, key, `unknown field; known fields: ${[...known].join(', ')}`);
  }

  const rawInputs = raw.inputs;
  if (typeof rawInputs !== 'object' || rawInputs === null || Array.isArray(rawInputs)) {
    throw new SpecError(name, 'inputs', 'must be an object mapping input names to dims, e.g. { q: [\'B\',\'T\',\'H\',\'K\'] }');
  }
  const inputs: InputDecl[] = [];
  for (const [inName, dims] of Object.entries(rawInputs as Record<string, unknown>)) {
    if (!INPUT_RE.test(inName) || RESERVED_INPUTS.has(inName)) {
      throw new SpecError(name, `inputs.${inName}`, `input names must match ${INPUT_RE} and not be one of ${[...RESERVED_INPUTS].join(', ')}`);
    }
    if (!Array.isArray(dims) || dims.length === 0 || dims.some((d) => !(DIMS as readonly unknown[]).includes(d))) {
      throw new SpecError(name, `inputs.${inName}`, `must be a non-empty list of dims from ${DIMS.join(', ')}, got ${JSON.stringify(dims)}`);
    }
    const order = dims.map((d) => DIMS.indexOf(d as Dim));
    if (order.some((o, i) => i > 0 && o <= order[i - 1]!)) {
      throw new SpecError(name, `inputs.${inName}`, `dims must be distinct and in the order B, T, H, K, V (got ${dims.join(',')})`);
    }
    if (dims.includes('K') && dims.includes('V')) {
      throw new SpecError(name, `inputs.${inName}`, 'an input may have a K or a V axis, not both (states are passed as h0)');
    }
    inputs.push({ name: inName, dims: dims as Dim[] });
  }
  if (inputs.length === 0) throw new SpecError(name, 'inputs', 'a variant needs at least one input');

  const decay = oneOf<DecayKind>(name, 'decay', raw.decay, ['none', 'scalar', 'fixed', 'diagonal']);
  const correction = oneOf<CorrectionKind>(name, 'correction', raw.correction, ['none', 'delta', 'dplr']);
  const bonus = oneOf<BonusKind>(name, 'bonus', raw.bonus, ['none', 'u'], 'none');
  const stateLayout = oneOf<StateLayout>(name, 'stateLayout', raw.stateLayout, ['kv', 'vk'], 'kv');
  const normalize = oneOf<NormalizeKind>(name, 'normalize', raw.normalize, ['none', 'exp'], 'none');
  let scale: 'rsqrtK' | number = 'rsqrtK';
  if (raw.scale !== undefined) {
    if (raw.scale !== 'rsqrtK' && !(typeof raw.scale === 'number' && Number.isFinite(raw.scale) && raw.scale > 0)) {
      throw new SpecError(name, 'scale', `must be 'rsqrtK' or a positive finite number, got ${JSON.stringify(raw.scale)}`);
    }
    scale = raw.scale as 'rsqrtK' | number;
  }

  const handles = Object.fromEntries(inputs.map((i) => [i.name, input(i.name)])) as InputHandles<I>;
  const dimsOf = new Map(inputs.map((i) => [i.name, i.dims]));
  const roles: Partial<Record<Role, ExprNode>> = {};
  const evalRole = (role: Role, allowed: readonly Dim[], required: boolean, why: string) => {
    const fn = raw[role];
    if (fn === undefined) {
      if (required) throw new SpecError(name, role, `is required ${why}`);
      return;
    }
    if (!required) throw new SpecError(name, role, `must not be given ${why}`);
    if (typeof fn !== 'function') throw new SpecError(name, role, 'must be a function of the input handles, e.g. ({ g }) => g');
    let node: ExprNode;
    try {
      node = lift((fn as RoleFn<I>)(handles)).node;
    } catch (e) {
      throw new SpecError(name, role, `building the expression failed: ${(e as Error).message}`);
    }
    for (const used of inputsOf(node)) {
      const dims = dimsOf.get(used);
      if (!dims) throw new SpecError(name, role, `reads unknown input '${used}'`);
      const extra = dims.filter((d) => !allowed.includes(d));
      if (extra.length) {
        throw new SpecError(name, role, `reads input '${used}' [${dims.join(',')}], whose axis ${extra.join(',')} ` +
          `is not in this role's index space [${allowed.join(',')}]`);
      }
    }
    roles[role] = node;
  };
  evalRole('q', ROLE_DIMS.q, true, 'for every variant');
  evalRole('k', ROLE_DIMS.k, true, 'for every variant');
  evalRole('v', ROLE_DIMS.v, true, 'for every variant');
  evalRole('logDecay', decayDims(decay), decay !== 'none', `when decay is '${decay}'`);
  evalRole('beta', ROLE_DIMS.beta, correction === 'delta', `when correction is '${correction}'`);
  evalRole('a', ROLE_DIMS.a, correction === 'dplr', `when correction is '${correction}'`);
  evalRole('b', ROLE_DIMS.b, correction === 'dplr', `when correction is '${correction}'`);
  evalRole('u', ROLE_DIMS.u, bonus === 'u', `when bonus is '${bonus}'`);
  if (raw.outputAdd !== undefined) evalRole('outputAdd', ROLE_DIMS.outputAdd, true, '');
  if (raw.outputGate !== undefined) evalRole('outputGate', ROLE_DIMS.outputGate, true, '');
  if (bonus === 'u' && correction === 'delta') {
    throw new SpecError(name, 'bonus', "the 'u' bonus is defined for correction 'none' only (RWKV6)");
  }
  if (bonus === 'u' && correction === 'dplr') {
    throw new SpecError(name, 'bonus', "the 'u' bonus is defined for correction 'none' only (RWKV6); RWKV-7's bonus is part of its output correction, outside the state recurrence");
  }
  if (normalize === 'exp' && correction !== 'none') {
    throw new SpecError(name, 'normalize', `the normalized form ('exp') takes correction 'none' (its keys are log-weights), got '${correction}'`);
  }
  const unused = inputs.filter((i) => !Object.values(roles).some((n) => inputsOf(n!).includes(i.name)));
  if (unused.length) {
    throw new SpecError(name, `inputs.${unused[0]!.name}`, 'is declared but no role (q, k, v, logDecay, beta, a, b, u, outputAdd, outputGate) reads it');
  }

  const { l2norm, l2normEps } = parseL2norm(name, raw.l2norm);
  if (normalize === 'exp' && l2norm.includes('k')) {
    throw new SpecError(name, 'l2norm', "the normalized form's keys are log-weights: l2norm may take 'q' only");
  }
  const description = typeof raw.description === 'string' ? raw.description : '';
  return finishDef({ name, inputs, decay, correction, bonus, normalize, scale, stateLayout, roles }, l2norm, description, l2normEps);
}

const describeEps = (eps: unknown) => (typeof eps === 'number' ? String(eps) : JSON.stringify(eps) ?? String(eps));

/** `l2norm: ['q', 'k']` or `l2norm: { roles: ['q', 'k'], eps }`. */
function parseL2norm(name: string, raw: unknown): { l2norm: ('q' | 'k')[]; l2normEps: number } {
  if (raw === undefined) return { l2norm: [], l2normEps: DEFAULT_L2NORM_EPS };
  let roles: unknown = raw;
  let eps: unknown;
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const extra = Object.keys(raw).filter((k) => k !== 'roles' && k !== 'eps');
    if (extra.length) throw new SpecError(name, `l2norm.${extra[0]}`, "unknown field; l2norm takes { roles, eps }");
    ({ roles, eps } = raw as { roles?: unknown; eps?: unknown });
    if (roles === undefined) throw new SpecError(name, 'l2norm.roles', "is required: the roles to normalize, e.g. { roles: ['q', 'k'], eps: 1e-6 }");
  }
  if (!Array.isArray(roles) || roles.some((r) => r !== 'q' && r !== 'k') || new Set(roles).size !== roles.length) {
    throw new SpecError(name, roles === raw ? 'l2norm' : 'l2norm.roles', `must list distinct roles among 'q' and 'k', got ${JSON.stringify(roles)}`);
  }
  if (eps !== undefined) {
    if (typeof eps !== 'number' || !Number.isFinite(eps) || !(eps >= MIN_L2NORM_EPS)) {
      throw new SpecError(name, 'l2norm.eps', `must be a finite number >= ${MIN_L2NORM_EPS} (x * rsqrt(sum(x^2) + eps); FLA's default is ${DEFAULT_L2NORM_EPS}), got ${describeEps(eps)}`);
    }
    if (roles.length === 0) throw new SpecError(name, 'l2norm.eps', 'is given, but no role is normalized (roles is empty)');
  }
  return { l2norm: [...(roles as ('q' | 'k')[])].sort(), l2normEps: (eps as number | undefined) ?? DEFAULT_L2NORM_EPS };
}

/** The hash covers every field codegen reads; l2norm joins it only when used, and its epsilon
 * only when not the default, so the hashes of specs without them stay what they were. The def is
 * frozen, deeply: its hash keys the pipeline cache, so its content must never change after the
 * hash is taken. */
function finishDef(
  body: Omit<VariantDef, 'hash' | 'description' | 'l2norm' | 'l2normEps'>, l2norm: readonly ('q' | 'k')[], description: string, l2normEps: number,
): VariantDef {
  // normalize joins the hash only when used, like l2norm: the other specs' hashes stay.
  const { normalize, ...rest } = body;
  const base = normalize === 'none' ? rest : body;
  const hashed = l2norm.length ? { ...base, l2norm, ...(l2normEps !== DEFAULT_L2NORM_EPS ? { l2normEps } : {}) } : base;
  return deepFreeze({ ...body, l2norm, l2normEps, description, hash: hashString(stableStringify(hashed)) });
}

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x as object)) deepFreeze(v);
  }
  return x;
}

const DEF_FIELDS = ['name', 'description', 'inputs', 'decay', 'correction', 'bonus', 'normalize', 'scale', 'stateLayout', 'l2norm', 'l2normEps', 'roles', 'hash'] as const;
const ROLES: readonly Role[] = Object.keys(ROLE_DIMS) as Role[];
const MAX_EXPR_DEPTH = 256;

/** A checked copy of an expression tree: known kinds and ops, finite constants, no extra fields
 * (and no cycles: the depth is bounded). */
function copyExpr(spec: string, field: string, node: unknown, depth = 0): ExprNode {
  const bad = (why: string): never => { throw new SpecError(spec, field, `not an expression tree: ${why}`); };
  if (depth > MAX_EXPR_DEPTH) bad(`deeper than ${MAX_EXPR_DEPTH} levels (or cyclic)`);
  if (!node || typeof node !== 'object') return bad(`a node is ${JSON.stringify(node) ?? String(node)}`);
  const n = node as Record<string, unknown>;
  const fields: Record<string, readonly string[]> = {
    input: ['kind', 'name'], const: ['kind', 'value'], index: ['kind', 'dim'], unary: ['kind', 'op', 'arg'], binary: ['kind', 'op', 'a', 'b'],
  };
  const kind = n.kind;
  if (typeof kind !== 'string' || !Object.prototype.hasOwnProperty.call(fields, kind)) {
    return bad(`node kind ${JSON.stringify(kind)}; allowed: ${Object.keys(fields).join(', ')}`);
  }
  const extra = Object.keys(n).filter((k) => !fields[kind]!.includes(k));
  if (extra.length) bad(`a '${kind}' node has unknown field '${extra[0]}'`);
  switch (kind) {
    case 'input':
      if (typeof n.name !== 'string') bad('an input node needs a name');
      return { kind, name: n.name as string };
    case 'const':
      if (typeof n.value !== 'number' || !Number.isFinite(n.value)) bad(`a constant must be a finite number, got ${String(n.value)}`);
      return { kind, value: n.value as number };
    case 'index':
      if (n.dim !== 'h') bad(`an index node reads 'h', got ${JSON.stringify(n.dim)}`);
      return { kind, dim: 'h' };
    case 'unary':
      if (!(UNARY_OPS as readonly unknown[]).includes(n.op)) bad(`unary op ${JSON.stringify(n.op)}; allowed: ${UNARY_OPS.join(', ')}`);
      return { kind, op: n.op as (typeof UNARY_OPS)[number], arg: copyExpr(spec, field, n.arg, depth + 1) };
    default:
      if (!(BINARY_OPS as readonly unknown[]).includes(n.op)) bad(`binary op ${JSON.stringify(n.op)}; allowed: ${BINARY_OPS.join(', ')}`);
      return { kind: 'binary', op: n.op as (typeof BINARY_OPS)[number], a: copyExpr(spec, field, n.a, depth + 1), b: copyExpr(spec, field, n.b, depth + 1) };
  }
}

/** Validates a variant definition given as data (what defineVariant returns, or a hand-edited
 * copy of one) exactly as defineVariant validates a spec, and returns a fresh def whose hash is
 * computed from the validated content: the object's own `hash` (and name) are never trusted. */
export function checkVariantDef(obj: unknown): VariantDef {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new SpecError('?', 'spec', `a variant must be a name or the object defineVariant() returns, got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`);
  }
  const raw = obj as Record<string, unknown>;
  const spec = typeof raw.name === 'string' ? raw.name : '?';
  if (typeof raw.name !== 'string' || !NAME_RE.test(raw.name)) {
    throw new SpecError(spec, 'name', `must match ${NAME_RE} (lower-case identifier), got ${JSON.stringify(raw.name) ?? String(raw.name)}`);
  }
  for (const key of Object.keys(raw)) {
    if (!(DEF_FIELDS as readonly string[]).includes(key)) throw new SpecError(spec, key, `unknown field of a variant definition; known fields: ${DEF_FIELDS.join(', ')}`);
  }
  if (!Array.isArray(raw.inputs)) {
    throw new SpecError(spec, 'inputs', `must be the list of { name, dims } defineVariant() makes, got ${raw.inputs === undefined ? 'nothing' : typeof raw.inputs}`);
  }
  const inputs: Record<string, unknown> = Object.create(null);
  raw.inputs.forEach((d: unknown, i: number) => {
    const decl = d as Record<string, unknown> | null;
    if (!decl || typeof decl !== 'object' || typeof decl.name !== 'string' || Object.keys(decl).some((k) => k !== 'name' && k !== 'dims')) {
      throw new SpecError(spec, `inputs[${i}]`, 'must be { name, dims }');
    }
    if (Object.prototype.hasOwnProperty.call(inputs, decl.name)) throw new SpecError(spec, `inputs[${i}]`, `repeats input '${decl.name}'`);
    inputs[decl.name] = Array.isArray(decl.dims) ? [...decl.dims] : decl.dims;
  });
  const roles = raw.roles;
  if (!roles || typeof roles !== 'object' || Array.isArray(roles)) throw new SpecError(spec, 'roles', 'must be an object of expression trees by role');
  const out: Record<string, unknown> = {
    name: raw.name, inputs, decay: raw.decay, correction: raw.correction, bonus: raw.bonus, scale: raw.scale, stateLayout: raw.stateLayout,
  };
  if (raw.normalize !== undefined) out.normalize = raw.normalize;
  if (raw.description !== undefined) out.description = raw.description;
  if (raw.l2norm !== undefined && !(Array.isArray(raw.l2norm) && raw.l2norm.length === 0)) {
    out.l2norm = raw.l2normEps === undefined ? raw.l2norm : { roles: raw.l2norm, eps: raw.l2normEps };
  } else if (raw.l2normEps !== undefined && raw.l2normEps !== DEFAULT_L2NORM_EPS) {
    throw new SpecError(spec, 'l2normEps', `is ${describeEps(raw.l2normEps)}, but no role is normalized (l2norm is empty)`);
  }
  for (const [role, node] of Object.entries(roles as Record<string, unknown>)) {
    if (!(ROLES as readonly string[]).includes(role)) throw new SpecError(spec, `roles.${role}`, `unknown role; roles: ${ROLES.join(', ')}`);
    if (node === undefined) continue;
    const tree = copyExpr(spec, `roles.${role}`, node);
    out[role] = () => new Expr(tree);
  }
  return defineVariant(out as unknown as VariantSpec);
}

/** The same variant with h0, ht and the step state in another layout (FLA's `state_v_first`,
 * mamba's and inference engines' V-first `[B,H,V,K]`, or K-first `[B,H,K,V]`). */
export function withStateLayout(def: VariantDef, layout: StateLayout): VariantDef {
  if (layout !== 'kv' && layout !== 'vk') {
    throw new SpecError(def.name, 'stateLayout', `must be 'kv' ([B,H,K,V]) or 'vk' ([B,H,V,K]), got ${JSON.stringify(layout)}`);
  }
  if (def.stateLayout === layout) return def;
  const { name, inputs, decay, correction, bonus, normalize, scale, roles, description, l2norm, l2normEps } = def;
  return finishDef({ name, inputs, decay, correction, bonus, normalize, scale, stateLayout: layout, roles }, l2norm, description, l2normEps);
}

export function describeRoles(def: VariantDef): Record<string, string> {
  return Object.fromEntries(Object.entries(def.roles).map(([r, n]) => [r, formatExpr(n!)]));
}

export function stableStringify(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stableStringify).join(',')}]`;
  if (x && typeof x === 'object') {
    return `{${Object.keys(x).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((x as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}

/** 64-bit FNV-1a as 16 hex digits; pure JS so it runs in browsers too. */
export function hashString(s: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}
