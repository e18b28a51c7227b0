// Every fuzz target, in run order.

import type { FuzzTarget } from './run.js';
import { authChapMd5Target, authMsChapV1Target, authMsChapV2Target, authPapTarget } from './targets/AuthServers.js';
import { greHeaderTarget } from './targets/GreHeader.js';
import { greSequencerTarget } from './targets/GreSequencer.js';
import { mppeTarget } from './targets/Mppe.js';
import { pppAutomatonTarget } from './targets/PppAutomaton.js';
import { pppLinkTarget } from './targets/PppLink.js';
import { pppFrameTarget } from './targets/PppFrame.js';
import { pppOptionsTarget } from './targets/PppOptions.js';
import { configTarget } from './targets/Config.js';
import { dasTarget } from './targets/DasRequest.js';
import { radiusClientTarget } from './targets/RadiusClientReply.js';
import { radiusPacketTarget } from './targets/RadiusPacket.js';
import { pptpCodecTarget } from './targets/PptpCodec.js';
import { pptpConnectionTarget } from './targets/PptpConnection.js';

export const ALL_TARGETS: readonly FuzzTarget[] = [
  pptpCodecTarget,
  pptpConnectionTarget,
  greHeaderTarget,
  greSequencerTarget,
  pppFrameTarget,
  pppOptionsTarget,
  pppAutomatonTarget,
  pppLinkTarget,
  authPapTarget,
  authChapMd5Target,
  authMsChapV1Target,
  authMsChapV2Target,
  mppeTarget,
  radiusPacketTarget,
  radiusClientTarget,
  dasTarget,
  configTarget,
];
