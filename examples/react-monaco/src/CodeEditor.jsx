import { useEffect, useRef } from 'react';
import { bindMonaco } from '@pairpad/client/monaco';
import { monaco } from './monaco.js';

// CodeEditor is a Monaco editor bound to a joined PairpadClient: the binding
// shows the document, sends local edits, draws the others' carets and
// selections, follows the session's language and keeps undo local.
export function CodeEditor({ client }) {
  const ref = useRef(null);
  useEffect(() => {
    const editor = monaco.editor.create(ref.current, {
      value: '',
      automaticLayout: true,
      minimap: { enabled: false },
      fontSize: 14,
      scrollBeyondLastLine: false,
      tabSize: 4,
    });
    const unbind = bindMonaco(editor, client, { monaco });
    window.pairpadEditor = editor; // for the browser tests
    return () => {
      unbind();
      editor.dispose();
    };
  }, [client]);
  return <div className="editor" ref={ref} />;
}
