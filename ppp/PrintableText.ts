/** Peer-supplied text (TermReq reason, Identification, user names) made safe for a log line. */
export function printableText(buf: Buffer, max = 128): string {
  const s = buf.subarray(0, max).toString('latin1');
  return s.replace(/[^\x20-\x7e]/g, '.');
}
