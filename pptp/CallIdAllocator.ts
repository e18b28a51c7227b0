// Server-wide PPTP Call ID pool (RFC 2637 §3.2.2).
//
// One pool for the whole server, not one per control connection, so the GRE receive path can find
// a session by the Call ID in the Key field alone. 0 is never handed out (Linux practice: its
// bitmap starts at 1). Allocation is round-robin from the last ID given out, so a just-released ID
// is not reused at once and late GRE packets of a finished call cannot land in a new session.

const MIN_CALL_ID = 1;
const MAX_CALL_ID = 0xffff;

export class CallIdAllocator {
  /** used[id] = 1 while id is allocated. */
  private readonly used = new Uint8Array(MAX_CALL_ID + 1);
  private count = 0;
  /** Where the next search starts. */
  private cursor = MIN_CALL_ID;

  /** A free Call ID in 1..65535, or null when all are in use. */
  allocate(): number | null {
    if (this.count === MAX_CALL_ID) return null;
    let id = this.cursor;
    // At least one slot is free, so this terminates within one lap.
    while (this.used[id] === 1) {
      id = id === MAX_CALL_ID ? MIN_CALL_ID : id + 1;
    }
    this.used[id] = 1;
    this.count++;
    this.cursor = id === MAX_CALL_ID ? MIN_CALL_ID : id + 1;
    return id;
  }

  /** Frees id; returns false if it was not allocated (or out of range). */
  release(id: number): boolean {
    if (!isCallId(id) || this.used[id] !== 1) return false;
    this.used[id] = 0;
    this.count--;
    return true;
  }

  inUse(id: number): boolean {
    return isCallId(id) && this.used[id] === 1;
  }

  /** Number of Call IDs currently allocated. */
  get size(): number {
    return this.count;
  }
}

function isCallId(id: number): boolean {
  return Number.isInteger(id) && id >= MIN_CALL_ID && id <= MAX_CALL_ID;
}
