// Type declarations of @pairpad/client/monaco (monaco.js); they live in index.d.ts.
export { LocalHistory, bindMonaco, changesToOp, invert, type MonacoBindingOptions, type MonacoEditorLike } from './index.js';
