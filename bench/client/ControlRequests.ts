// The PPTP control requests a client sends first (RFC 2637 §2.1 Start-Control-Connection-Request,
// §2.7 Outgoing-Call-Request) with the values of a plain client: the load generator, the hostile
// client, the unit tests and the fuzz targets build them here and override only what they test.
import { ControlMessageType, type OutgoingCallRequest, PPTP_PROTOCOL_VERSION, type StartControlConnectionRequest } from '../../pptp/ControlMessage.js';

export function startControlConnectionRequest(fields: Partial<Omit<StartControlConnectionRequest, 'type'>> = {}): StartControlConnectionRequest {
  return {
    type: ControlMessageType.StartControlConnectionRequest,
    protocolVersion: PPTP_PROTOCOL_VERSION,
    framingCapabilities: 1,
    bearerCapabilities: 1,
    maxChannels: 0,
    firmwareRevision: 1,
    hostName: '',
    vendor: 'portico-test',
    ...fields,
  };
}

/** An Outgoing-Call-Request for our Call ID `callId` (also its serial number unless given). */
export function outgoingCallRequest(callId: number, fields: Partial<Omit<OutgoingCallRequest, 'type' | 'callId'>> = {}): OutgoingCallRequest {
  return {
    type: ControlMessageType.OutgoingCallRequest,
    callId,
    callSerialNumber: callId,
    minBps: 300,
    maxBps: 100_000_000,
    bearerType: 3,
    framingType: 3,
    recvWindowSize: 64,
    processingDelay: 0,
    phoneNumberLength: 0,
    phoneNumber: '',
    subaddress: Buffer.alloc(64),
    ...fields,
  };
}
