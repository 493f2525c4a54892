// A small program against the package's declarations (index.d.ts), checked
// with `tsc --noEmit -p test/types` by test/package.test.mjs: the types
// must describe the API as the README and docs/client.md use it.
import {
  PairpadClient,
  PairpadError,
  Status,
  LANGUAGES,
  apply,
  diff,
  fnv1a64,
  transform,
  type Op,
  type RemoteCursor,
  type StatusValue,
} from '@pairpad/client';

async function main(base: string): Promise<void> {
  const session = await PairpadClient.createSession(base, 'python');
  const client = new PairpadClient({ backoff: [500, 1000], idleTimeout: 30000 });
  const off = client.on('text', ({ text, op, remote }) => {
    const next: string = apply(text, remote ? op : []);
    void next;
  });
  client.on('cursor', ({ cursors }) => cursors.map((c: RemoteCursor) => `${c.name}@${c.position.line}:${c.position.column}`));
  client.on('status', ({ status }) => {
    const s: StatusValue = status;
    if (s === Status.RECONNECTING) console.log('reconnecting');
  });
  client.on('divergence', ({ version, expected, actual, count }) => console.log(version, expected, actual, count));
  client.on('error', ({ error, message }) => console.warn(error, message));
  try {
    const connected = await client.join(base, session.id, 'u1', 'Ada');
    const code: string = connected.code;
    const op: Op = diff(code, code + '\n');
    client.applyLocal(op);
    client.setText(client.text + '# done');
    client.sendCursor({ line: 0, column: 1 }, { start: { line: 0, column: 0 }, end: { line: 0, column: 1 } });
    const sent: boolean = client.setLanguage(LANGUAGES[1]);
    const [a, b]: [Op, Op] = transform(['x'], ['y']);
    console.log(sent, a, b, fnv1a64(client.text), client.divergences, client.version);
  } catch (err) {
    if (err instanceof PairpadError) console.error(err.code, err.status);
  } finally {
    off();
    client.close();
  }
}

async function interview(base: string): Promise<void> {
  const created = await PairpadClient.createSession(base, 'javascript', { title: 'Warm-up', starterCode: '// hi\n' });
  const client = new PairpadClient();
  await client.join(base, created.id, 'i1', 'Ivy', { role: 'interviewer', hostKey: created.hostKey });
  if (client.role === 'interviewer' && client.hasNotes) client.setNotesText(client.notes + 'good start');
  client.on('notes', ({ text }) => console.log(text.length, client.notesVersion, client.notesState));
  client.on('run', (run) => console.log(run.stdout, run.exitCode, run.userName));
  const sent: boolean = client.shareRun({ runId: 'r1', language: 'javascript', stdout: '1\n', stderr: '', exitCode: 0, durationMs: 2 });
  const history = await PairpadClient.getHistory(base, created.id, created.hostKey);
  const file = await PairpadClient.downloadCode(base, created.id, client.token ?? created.hostKey);
  await PairpadClient.endSession(base, created.id, created.hostKey);
  console.log(sent, history.map((h) => `${h.version} ${h.userName ?? ''} ${h.role ?? ''}`), file.filename, client.lastRun?.runId, client.notesDocument.text);
}

void main('http://localhost:3001');
void interview('http://localhost:3001');

// The Monaco binding, through its own entry, with an object shaped like an editor.
import { LocalHistory, bindMonaco, changesToOp, type MonacoBindingOptions } from '@pairpad/client/monaco';

function monaco(client: PairpadClient, container: HTMLElement): void {
  const editor = { getModel: () => ({}), getContainerDomNode: () => container, extra: 1 };
  const options: MonacoBindingOptions = { monaco: {}, languages: { python: 'python' }, shareCursor: false };
  const unbind: () => void = bindMonaco(editor, client, options);
  const op: Op = changesToOp([{ rangeOffset: 0, rangeLength: 0, text: 'x' }], 0);
  const history = new LocalHistory({ groupDelay: 300 });
  history.record(op, '');
  const undone: Op | null = history.undo((o) => ({ op: o, before: 'x' }));
  console.log(op, undone, history.undoDepth);
  unbind();
}
void monaco;

// The CodeMirror binding, as the demo page uses it.
import { EditorView } from '@codemirror/view';
import { bindCodeMirror } from '@pairpad/client/codemirror';
import { languageNames, languageSupport } from '@pairpad/client/codemirror-languages';

export function editor(parent: HTMLElement, client: PairpadClient): () => void {
  const view = new EditorView({ parent });
  const unbind: () => void = bindCodeMirror(view, client, { language: languageSupport, shareCursor: true });
  console.log(languageNames.length);
  return () => {
    unbind();
    view.destroy();
  };
}

// The interviewers' notes in a second CodeMirror editor.
export function notesEditor(parent: HTMLElement, client: PairpadClient): () => void {
  const view = new EditorView({ parent });
  return bindCodeMirror(view, client.notesDocument, { shareCursor: false });
}
