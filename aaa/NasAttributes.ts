// What a PPTP NAS says about itself and about a call in every Access- and Accounting-Request
// (RFC 2865 §5, RFC 2866 §5, RFC 2868 §3): NAS identity, the port (our Call ID), the service, both tunnel endpoints and the
// session's Acct-Session-Id. One builder, so authentication and accounting describe a call alike.
import {
  addressAttribute,
  Attr,
  FramedProtocol,
  integerAttribute,
  NasPortType,
  ServiceType,
  taggedIntegerAttribute,
  taggedStringAttribute,
  textAttribute,
  TunnelMediumType,
  TunnelType,
} from '../radius/Dictionary.js';
import type { RadiusAttribute } from '../radius/RadiusPacket.js';

export interface NasIdentity {
  /** NAS-Identifier (RFC 2865 §5.32); RFC 2865 wants it and/or NAS-IP-Address in every request. */
  nasIdentifier?: string;
  /** NAS-IP-Address (RFC 2865 §5.4). */
  nasIpAddress?: string;
}

/** The call a request is about. */
export interface NasCall {
  sessionId: string;
  callId: number;
  /** Client address, dotted quad. */
  peer: string;
  /** Address the client connected to; 0.0.0.0 (wildcard listen) falls back to the NAS-IP-Address. */
  local: string;
}

/** NAS-IP-Address / NAS-Identifier. */
export function nasIdentityAttributes(nas: NasIdentity): RadiusAttribute[] {
  const out: RadiusAttribute[] = [];
  if (nas.nasIpAddress) out.push(addressAttribute(Attr.NasIpAddress, nas.nasIpAddress));
  if (nas.nasIdentifier) out.push(textAttribute(Attr.NasIdentifier, nas.nasIdentifier));
  return out;
}

/**
 * NAS identity + NAS-Port (Call ID), NAS-Port-Type Virtual, Service-Type Framed, Framed-Protocol PPP,
 * Calling-/Called-Station-Id (dotted quads, as accel-ppp), Tunnel-Type PPTP / Tunnel-Medium-Type IPv4 /
 * Tunnel-Client-Endpoint (RFC 2868 §3), Acct-Session-Id (RFC 5176 §3: lets Disconnect/CoA name it).
 */
export function callAttributes(nas: NasIdentity, call: NasCall | undefined): RadiusAttribute[] {
  const out = nasIdentityAttributes(nas);
  if (call) out.push(integerAttribute(Attr.NasPort, call.callId));
  out.push(integerAttribute(Attr.NasPortType, NasPortType.Virtual), integerAttribute(Attr.ServiceType, ServiceType.Framed), integerAttribute(Attr.FramedProtocol, FramedProtocol.Ppp));
  if (!call) return out;
  out.push(textAttribute(Attr.CallingStationId, call.peer));
  const called = call.local !== '0.0.0.0' ? call.local : nas.nasIpAddress;
  if (called) out.push(textAttribute(Attr.CalledStationId, called));
  out.push(
    taggedIntegerAttribute(Attr.TunnelType, TunnelType.Pptp),
    taggedIntegerAttribute(Attr.TunnelMediumType, TunnelMediumType.Ipv4),
    taggedStringAttribute(Attr.TunnelClientEndpoint, call.peer),
    textAttribute(Attr.AcctSessionId, call.sessionId),
  );
  return out;
}
