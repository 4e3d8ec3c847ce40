// Errors of the runtime that are not about the caller's tensors (those are InputError).
export class EngineError extends Error {
  constructor(message: string) { super(message); this.name = 'EngineError'; }
}
