// The few regular files of a backup in one POSIX ustar archive (POSIX.1-1988 "ustar" interchange
// format, pax(1)): any `tar` lists and extracts it, so a backup can be inspected or restored by hand.
// Only what a backup needs: regular files with short plain names, written and read whole in memory.

const BLOCK = 512;

export interface TarEntry {
  name: string;
  data: Buffer;
}

/** The archive is not one we can read: the message says what is wrong. */
export class TarFormatError extends Error {}

/** Octal digits, zero-padded to width - 1, then NUL (the ustar numeric fields). */
function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o600, 8), 100, 'ascii'); // mode: the entries hold password hashes
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write(' '.repeat(8), 148, 'ascii'); // the checksum counts its own field as spaces
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\0', 257, 'ascii'); // magic
  h.write('00', 263, 'ascii'); // version
  h.write(`${checksum(h).toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

/** One archive holding `entries` in order. Names: 1-99 bytes, no slash (no directories, no path to escape through). */
export function writeTar(entries: readonly TarEntry[], mtime = Math.floor(Date.now() / 1000)): Buffer {
  const parts: Buffer[] = [];
  for (const { name, data } of entries) {
    if (!plainName(name)) throw new TarFormatError(`tar: ${JSON.stringify(name)} is not a plain file name`);
    parts.push(header(name, data.length, mtime), data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK)); // the end: two zero blocks
  return Buffer.concat(parts);
}

/** The regular files of `archive`; throws TarFormatError on anything else (a bad checksum, a link, a path, a truncation). */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let at = 0;
  while (at + BLOCK <= archive.length) {
    const h = archive.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) return entries;
    const stored = Number.parseInt(field(h, 148, 8), 8);
    if (stored !== checksum(h)) throw new TarFormatError(`not a tar archive, or damaged (header checksum at byte ${at})`);
    const name = field(h, 0, 100);
    const type = String.fromCharCode(h[156]!);
    if (type !== '0' && type !== '\0') throw new TarFormatError(`${name}: not a regular file`);
    if (!plainName(name) || h[345] !== 0) throw new TarFormatError(`${JSON.stringify(name)} is not a plain file name`);
    const size = Number.parseInt(field(h, 124, 12), 8);
    if (!Number.isSafeInteger(size) || size < 0 || at + BLOCK + size > archive.length) throw new TarFormatError(`${name}: truncated`);
    entries.push({ name, data: archive.subarray(at + BLOCK, at + BLOCK + size) });
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new TarFormatError('truncated: no end-of-archive blocks');
}

/** A NUL-terminated (or full-width) text field, without padding. */
function field(h: Buffer, offset: number, width: number): string {
  const raw = h.subarray(offset, offset + width);
  const end = raw.indexOf(0);
  return raw
    .subarray(0, end < 0 ? width : end)
    .toString('utf8')
    .trim();
}

function plainName(name: string): boolean {
  return /^[\w.-]{1,99}$/.test(name) && name !== '.' && name !== '..';
}
