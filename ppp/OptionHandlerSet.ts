// Generic OptionSet built from per-option handlers: Reject anything unregistered, Reject takes precedence
// over Nak (pppd behaviour, lcp_reqci), Nak turns into Reject after Max-Failure (RFC 1661 §4.6).

import type { OptionSet, ReplyOutcome, RequestVerdict } from './Automaton.js';
import type { ConfigOption } from './ControlPacket.js';
import type { OptionHandler } from './OptionHandler.js';

const ACK_VERDICT: RequestVerdict = { kind: 'ack' };
const OK: ReplyOutcome = { kind: 'ok' };

export class OptionHandlerSet implements OptionSet {
  private readonly byType = new Map<number, OptionHandler>();
  private lastRequest: ConfigOption[] = [];

  constructor(private readonly handlers: readonly OptionHandler[]) {
    for (const h of handlers) {
      if (this.byType.has(h.type)) throw new Error(`option type ${h.type} registered twice`);
      this.byType.set(h.type, h);
    }
  }

  reset(): void {
    for (const h of this.handlers) h.reset();
  }

  buildRequest(): ConfigOption[] {
    const out: ConfigOption[] = [];
    for (const h of this.handlers) {
      const data = h.request();
      if (data) out.push({ type: h.type, data });
    }
    this.lastRequest = out;
    return out;
  }

  checkRequest(options: readonly ConfigOption[], rejectInsteadOfNak: boolean): RequestVerdict {
    const naks: ConfigOption[] = [];
    const rejects: ConfigOption[] = [];
    const seen = new Set<number>();
    for (const o of options) {
      const h = this.byType.get(o.type);
      if (!h) {
        rejects.push(o);
        continue;
      }
      seen.add(o.type);
      const v = h.check(o.data);
      if (v.kind === 'reject') rejects.push(o);
      else if (v.kind === 'nak') {
        if (rejectInsteadOfNak) rejects.push(o);
        else naks.push({ type: o.type, data: v.data });
      }
    }
    if (rejects.length > 0) return { kind: 'reject', options: rejects };
    if (!rejectInsteadOfNak) {
      for (const h of this.handlers) {
        if (seen.has(h.type) || !h.missing) continue;
        const data = h.missing();
        if (data) naks.push({ type: h.type, data });
      }
    }
    if (naks.length > 0) return { kind: 'nak', options: naks };
    return ACK_VERDICT;
  }

  peerRequestAcked(options: readonly ConfigOption[]): void {
    for (const h of this.handlers) {
      let data: Buffer | null = null;
      for (const o of options) if (o.type === h.type) data = o.data;
      h.peerAcked(data);
    }
  }

  applyAck(options: readonly ConfigOption[]): void {
    for (const o of options) this.byType.get(o.type)?.ackReceived?.(o.data);
  }

  applyNak(options: readonly ConfigOption[]): ReplyOutcome {
    let refusal: string | undefined;
    for (const o of options) {
      const h = this.byType.get(o.type);
      if (!h) continue; // a suggestion for an option we do not know: ignore it
      const requested = this.lastRequest.some((r) => r.type === o.type);
      const r = h.nakReceived(o.data, requested);
      if (typeof r === 'string' && refusal === undefined) refusal = r;
    }
    return refusal === undefined ? OK : { kind: 'refused', reason: refusal };
  }

  applyReject(options: readonly ConfigOption[]): ReplyOutcome {
    // A Reject must list options of our last request, unmodified (RFC 1661 §5.4); otherwise discard it.
    for (const o of options) {
      if (!this.lastRequest.some((r) => r.type === o.type && r.data.equals(o.data))) {
        return { kind: 'invalid', why: `Configure-Reject lists option ${o.type} that we did not request as such` };
      }
    }
    let refusal: string | undefined;
    for (const o of options) {
      const r = this.byType.get(o.type)?.rejectReceived();
      if (typeof r === 'string' && refusal === undefined) refusal = r;
    }
    return refusal === undefined ? OK : { kind: 'refused', reason: refusal };
  }
}
