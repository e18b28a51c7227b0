// Passwords for `portico user ...` without putting them on the command line (where `ps` shows them to
// every local user): typed at a no-echo prompt on a terminal, or read from standard input.

/** The standard input as the password readers use it (a TTY when isTTY; tests pass a PassThrough). */
export interface PasswordInputStream extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  unshift(chunk: Buffer | string): void;
}

/** No password could be had: the message says why. */
export class PasswordInputError extends Error {}

/** The whole of standard input, one trailing newline removed (`printf %s\n PW | portico ... --password-stdin`). */
export async function readPasswordFromStdin(stdin: PasswordInputStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    // RFC 2759 §8.1 allows 256 characters; a file this big is not a password.
    if (size > 4096) throw new PasswordInputError('--password-stdin: more than 4096 bytes on standard input');
    chunks.push(b);
  }
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (/[\r\n]/.test(text)) throw new PasswordInputError('--password-stdin: standard input holds more than one line');
  return text;
}

/**
 * Asks for a password at the terminal without echo (raw mode: Enter ends it, Backspace takes a
 * character back, Ctrl-C or Ctrl-D on an empty line cancels). The prompt and the final newline go to
 * `write` (standard error), so that standard output stays the command's own.
 */
export function promptPassword(stdin: PasswordInputStream, write: (text: string) => void, prompt: string): Promise<string> {
  if (!stdin.isTTY || !stdin.setRawMode) return Promise.reject(new PasswordInputError('standard input is not a terminal'));
  const setRawMode = stdin.setRawMode.bind(stdin);
  write(prompt);
  setRawMode(true);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error: Error | null, rest: string) => {
      stdin.off('data', onData);
      setRawMode(false);
      stdin.pause();
      if (rest) stdin.unshift(Buffer.from(rest, 'utf8'));
      write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer | string) => {
      const text = chunk.toString();
      for (let i = 0; i < text.length; i++) {
        const c = text[i]!;
        if (c === '\r' || c === '\n') return finish(null, text.slice(i + 1));
        if (c === '\u0003' || (c === '\u0004' && typed === '')) return finish(new PasswordInputError('cancelled'), '');
        if (c === '\u007f' || c === '\b') typed = typed.slice(0, -1);
        else if (c >= ' ') typed += c;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * A new password typed twice (a typo at a no-echo prompt would otherwise lock the user out). `check`
 * throws for a password that would be refused anyway (too short), before it is asked for again.
 */
export async function promptNewPassword(stdin: PasswordInputStream, write: (text: string) => void, user: string, check: (password: string) => void = () => {}): Promise<string> {
  const first = await promptPassword(stdin, write, `New password for ${user}: `);
  check(first);
  const second = await promptPassword(stdin, write, 'Again: ');
  if (first !== second) throw new PasswordInputError('the two passwords differ');
  return first;
}
