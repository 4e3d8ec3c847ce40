// The runtime's two kinds of error: InputError for the caller's tensors and options (it names the
// tensor or field), EngineError for the device, limits and the rest.
export class InputError extends Error {
  constructor(message: string) { super(message); this.name = 'InputError'; }
}
export class EngineError extends Error {
  constructor(message: string) { super(message); this.name = 'EngineError'; }
}
