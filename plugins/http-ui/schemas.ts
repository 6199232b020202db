/** JSON schemas of the API's bodies and answers; fastify validates with them and openapi.ts documents them. */

export const MAX_TEXT_CHARS = 16_000;
export const MAX_NAME_CHARS = 255;
export const MAX_SECRET_CHARS = 1024;

export const errorSchema = {
  type: 'object',
  description: 'An error',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
} as const;

export const identityStatusSchema = {
  type: 'object',
  properties: {
    state: { enum: ['none', 'locked', 'unlocked'] },
    email: { type: 'string' },
    name: { type: 'string' },
    fingerprint: { type: 'string' },
    safetyNumber: { type: 'string' },
  },
} as const;

export const emailProperty = { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS, pattern: '^[^\\s@]+@[^\\s@]+$' } as const;

/** What a new profile is made of (self-issued or CA-issued). */
export const newProfileProperties = {
  name: { type: 'string', minLength: 1, maxLength: MAX_NAME_CHARS },
  email: emailProperty,
  password: { type: 'string', minLength: 8, maxLength: MAX_SECRET_CHARS },
} as const;

export const registrationSchema = {
  type: ['object', 'null'],
  description: 'A registration with a certification authority waiting for the mailed code (first run), or null',
  properties: {
    state: { enum: ['registering', 'code-sent', 'failed'] },
    email: { type: 'string' },
    caUrl: { type: 'string' },
    caName: { type: 'string' },
    caFingerprint: { type: 'string' },
    expiresAt: { type: ['integer', 'null'] },
    error: { type: ['string', 'null'] },
  },
} as const;

export const profileSchema = {
  type: 'object',
  properties: {
    /** False on a node without a profile in its config. */
    available: { type: 'boolean' },
    status: identityStatusSchema,
    chat: { type: 'boolean', description: 'The chat service is running (the profile is unlocked).' },
    invitations: { type: 'boolean', description: 'The unlocked chat service has invitations (spec §2.6).' },
    fileShare: { type: 'boolean', description: 'The file-share plugin is loaded.' },
    registration: registrationSchema,
    certificate: { enum: ['self', 'ca', null], description: "Who issued the unlocked profile's certificate (null while locked)." },
  },
} as const;

export const chatSchema = {
  type: 'object',
  properties: {
    chatId: { type: 'integer' },
    kind: { enum: ['group', 'private'] },
    name: { type: 'string' },
    online: { type: 'boolean' },
    unread: { type: 'integer' },
    meshStatus: { type: 'string' },
    onlineMembers: { type: 'integer' },
    lastMessageAt: { type: ['integer', 'null'] },
  },
} as const;

export const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer' },
    chatId: { type: 'integer' },
    type: { type: 'integer' },
    sender: { type: 'string' },
    outgoing: { type: 'boolean' },
    sentAt: { type: 'integer' },
    receivedAt: { type: 'integer' },
    text: { type: ['string', 'null'] },
    deliveredTo: { type: 'array', items: { type: 'string' } },
    pendingTo: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const memberSchema = {
  type: 'object',
  properties: {
    identity: { type: 'string' },
    name: { type: ['string', 'null'] },
    online: { type: 'boolean' },
    fingerprint: { type: ['string', 'null'] },
    safetyNumber: { type: ['string', 'null'] },
  },
} as const;

export const transferSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    mimeType: { type: ['string', 'null'] },
    direction: { enum: ['in', 'out'] },
    state: { type: 'string' },
    size: { type: 'integer' },
    done: { type: 'integer' },
    rate: { type: ['number', 'null'] },
    error: { type: ['string', 'null'] },
    chats: {
      type: 'array',
      description: 'The chats it was shared in or advertised from, as this node names them',
      items: { type: 'object', properties: { chatId: { type: 'integer' }, name: { type: 'string' } } },
    },
  },
} as const;

export const chatIdParams = {
  type: 'object',
  required: ['chatId'],
  properties: { chatId: { type: 'integer', minimum: 1 } },
} as const;

export const okSchema = { type: 'object', properties: { ok: { type: 'boolean' } } } as const;

/** The core's limit on an invitation text is 4096 UTF-8 bytes; it refuses longer ones (ERR_NODE_INVITATION_TOO_LARGE). */
export const MAX_INVITATION_CHARS = 4096;

export const invitationSchema = {
  type: 'object',
  description: 'A pending inbound invitation: someone who has not been added started a private chat with us (spec §2.6)',
  properties: {
    chatId: { type: 'integer', description: 'The offline private chat that holds it until accepted' },
    email: { type: 'string', description: "The inviter's e-mail, from its certificate" },
    name: { type: 'string', description: "The inviter's certificate name" },
    text: { type: 'string' },
    fingerprint: { type: 'string' },
    safetyNumber: { type: 'string', description: 'Compare out of band before accepting' },
    receivedAt: { type: 'integer' },
  },
} as const;

export const outgoingInvitationSchema = {
  type: 'object',
  description: 'An invitation we sent, until the invitee joins the chat, we cancel it or we leave the chat (kept across restarts)',
  properties: {
    chatId: { type: 'integer', description: 'The private chat it invites into' },
    email: { type: 'string', description: 'The invitee' },
    since: { type: 'integer', description: 'When it was sent (ms)' },
    deliveries: { type: 'integer', description: 'How many times a node of the invitee took it' },
    deliveredAt: { type: 'integer', description: 'When a node of the invitee last took it (absent before the first time)' },
    state: { enum: ['looking', 'delivered'], description: '"looking": no node of the invitee took it yet; "delivered": waiting for them to accept' },
  },
} as const;

export const invitationPolicySchema = {
  type: 'object',
  properties: {
    allow: { type: 'boolean', description: 'Inbound invitations are accepted (the profile is announced under its masked e-mail)' },
    lanOnly: { type: 'boolean', description: 'Only from private, link-local and loopback addresses' },
  },
} as const;
