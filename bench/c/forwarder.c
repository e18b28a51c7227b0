/*
 * Portico's C reference data path, the baseline every data-plane figure is a ratio to: the minimum
 * work of a PPTP concentrator per packet, written plainly in C on one core.
 *   raw GRE (recvmmsg, batches of 32) -> GRE/PPP parse -> MPPE-128 RC4 decrypt (stateless: key
 *   change per packet, RFC 3078 §7.3; SHA-1 from OpenSSL libcrypto) -> source check -> TUN write
 *   TUN read (up to 32 per wake-up) -> session by destination -> MPPE encrypt -> GRE -> sendmmsg
 * The same file holds the traffic tools of the bench (one binary, one key schedule):
 *   forward  --tun NAME --keys FILE --local A.B.C.D        the reference forwarder (server side)
 *   blast    --keys FILE --server A.B.C.D                   MPPE/GRE source playing the clients;
 *            reads "SIZE FIRST COUNT SECONDS RATE" lines on stdin: sessions FIRST..FIRST+COUNT-1
 *            of the keys file, RATE packets/s (0 = unpaced);
 *            answers "sent N tried T failed F short S errno E resets R" per line (F: packets
 *            sendmmsg did not take, S: calls that took fewer than asked, R: CCP Reset-Requests
 *            honoured); keeps its key and sequence state across lines, as one client would, and
 *            answers the forwarder's Reset-Requests (stateful) like a Linux peer
 *   udpblast --keys FILE --size S --sessions N [--first F] --seconds T [--rate PPS]  plain UDP to the
 *            addresses of sessions F .. F+N-1 of the keys file
 *   sink     --keys FILE --seconds T [--verify]             drains raw GRE on the client side
 * Keys file, one session a line (client's view, as bench/client/LoadGenerator.ts --mode keys writes):
 *   clientCallId serverCallId address sendKeyHex recvKeyHex stateless [nextGreSeq]
 * nextGreSeq (default 1) is the first GRE sequence number blast uses for the session: the load
 * generator already sent the handshake on that call, and a receiver drops numbers it has seen
 * (RFC 2637 §4.3), so a blaster restarting at 1 would lose its first packets to the sequence check.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define SLOT 2048
#define HEADROOM 64
#define MAX_SESSIONS 8192
#define SOCKET_BUFFER_OCTETS (4 << 20)
#define CCP_RESET_REQUEST 14

/* ---- RC4 and the MPPE key schedule (RFC 3078 §7.3, 128-bit keys: no reduction) ---- */
typedef struct { uint8_t s[256]; uint8_t i, j; } rc4_t;

static void rc4_key(rc4_t *r, const uint8_t *k, int len) {
  for (int i = 0; i < 256; i++) r->s[i] = (uint8_t)i;
  uint8_t j = 0;
  for (int i = 0; i < 256; i++) {
    j = (uint8_t)(j + r->s[i] + k[i % len]);
    uint8_t t = r->s[i]; r->s[i] = r->s[j]; r->s[j] = t;
  }
  r->i = r->j = 0;
}

static void rc4_run(rc4_t *r, uint8_t *p, int len) {
  uint8_t i = r->i, j = r->j, *s = r->s;
  for (int n = 0; n < len; n++) {
    i++; j = (uint8_t)(j + s[i]);
    uint8_t t = s[i]; s[i] = s[j]; s[j] = t;
    p[n] ^= s[(uint8_t)(s[i] + s[j])];
  }
  r->i = i; r->j = j;
}

typedef struct {
  rc4_t rc4;
  uint8_t sha_in[112]; /* start[16] pad1[40] session[16] pad2[40] */
  int cc;
  int stateless;
  int discarding;
  int flush_pending; /* CCP Reset-Request received: next packet re-keys and carries A (RFC 3078 §8) */
} mppe_t;

static void mppe_init(mppe_t *m, const uint8_t start[16], int stateless) {
  memset(m, 0, sizeof *m);
  memcpy(m->sha_in, start, 16);
  memcpy(m->sha_in + 56, start, 16);
  memset(m->sha_in + 72, 0xf2, 40);
  uint8_t d[20];
  SHA1(m->sha_in, 112, d);
  memcpy(m->sha_in + 56, d, 16);
  rc4_key(&m->rc4, m->sha_in + 56, 16);
  m->cc = 0xfff;
  m->stateless = stateless;
}

static void mppe_change(mppe_t *m, int key_data) {
  uint8_t d[20];
  rc4_t t;
  SHA1(m->sha_in, 112, d);
  rc4_key(&t, d, 16);
  memcpy(m->sha_in + 56, d, 16);
  rc4_run(&t, m->sha_in + 56, 16);
  if (key_data) rc4_key(&m->rc4, m->sha_in + 56, 16);
}

/* p[-2..-1] receives the MPPE header; p[0..len) is encrypted in place. */
static void mppe_encrypt(mppe_t *m, uint8_t *p, int len) {
  int cc = (m->cc + 1) & 0xfff;
  m->cc = cc;
  uint8_t flags = 0x10;
  if (m->stateless || (cc & 0xff) == 0xff || m->flush_pending) { mppe_change(m, 1); flags |= 0x80; m->flush_pending = 0; }
  p[-2] = (uint8_t)(flags | (cc >> 8));
  p[-1] = (uint8_t)cc;
  rc4_run(&m->rc4, p, len);
}

/* p = MPPE header + ciphertext; returns the plaintext length at p+2, -1 (dropped) or MPPE_GAP
 * (stateful: loss detected, discarding until a flushed packet; send a CCP Reset-Request). */
#define MPPE_GAP (-2)
static int mppe_decrypt(mppe_t *m, uint8_t *p, int len) {
  if (len < 3 || !(p[0] & 0x10)) return -1;
  int cc = ((p[0] & 0x0f) << 8) | p[1];
  int flushed = (p[0] & 0x80) != 0;
  if (m->stateless) {
    if (!flushed) return -1;
    int steps = (cc - m->cc) & 0xfff;
    if (steps == 0 || steps > 2048) return -1;
    for (int n = 1; n < steps; n++) mppe_change(m, 0);
    mppe_change(m, 1);
    m->cc = cc;
  } else {
    if (!m->discarding) {
      m->cc = (m->cc + 1) & 0xfff;
      if (cc != m->cc) { m->discarding = 1; return MPPE_GAP; }
    } else {
      if (!flushed) return -1;
      while ((cc & 0xf00) != (m->cc & 0xf00)) { mppe_change(m, 0); m->cc = (m->cc + 0x100) & 0xfff; }
      m->discarding = 0;
      m->cc = cc;
    }
    if (flushed) mppe_change(m, 1);
  }
  rc4_run(&m->rc4, p + 2, len - 2);
  return len - 2;
}

/* ---- sessions ---- */
typedef struct {
  uint16_t client_call, server_call;
  uint32_t addr; /* host order */
  uint8_t send_key[16], recv_key[16]; /* client's view */
  int stateless;
  mppe_t tx, rx;
  uint32_t seq, last_rx_seq, first_seq;
  int have_rx;
  uint8_t iphdr[20];
} session_t;

static session_t sessions[MAX_SESSIONS];
static int nsessions;
static session_t *by_call[65536];
/* Sessions by the low 16 bits of their tunnel address (the bench pool fits), checked on use. */
static session_t *by_addr[65536];
/* Every client of the bench sits at one address (network order). */
static uint32_t peer_addr;

static void hex16(const char *h, uint8_t *out) {
  for (int i = 0; i < 16; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
}

static void load_keys(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) { perror(file); exit(1); }
  char line[256], addr[32], sk[64], rk[64];
  unsigned cc, sc, seq;
  int sl;
  while (nsessions < MAX_SESSIONS && fgets(line, sizeof line, f)) {
    int fields = sscanf(line, "%u %u %31s %63s %63s %d %u", &cc, &sc, addr, sk, rk, &sl, &seq);
    if (fields < 6) continue;
    session_t *s = &sessions[nsessions++];
    s->first_seq = fields == 7 ? seq : 1;
    s->client_call = (uint16_t)cc;
    s->server_call = (uint16_t)sc;
    struct in_addr a;
    inet_pton(AF_INET, addr, &a);
    s->addr = ntohl(a.s_addr);
    hex16(sk, s->send_key);
    hex16(rk, s->recv_key);
    s->stateless = sl;
  }
  fclose(f);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int open_raw_gre(const char *bind_addr) {
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_GRE);
  if (fd < 0) { perror("raw GRE socket"); exit(1); }
  /* Same buffers as the product's addon (io/native/gre.c SOCKET_BUFFER_OCTETS). */
  int big = SOCKET_BUFFER_OCTETS;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (bind_addr) {
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, bind_addr, &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
  }
  return fd;
}

static uint16_t ip_checksum(const uint8_t *p, int len) {
  uint32_t sum = 0;
  for (int i = 0; i < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* An IPv4/UDP header of total length `size` from src to dst (checksum filled, UDP checksum 0). */
static void build_ip(uint8_t *h, int size, uint32_t src, uint32_t dst) {
  memset(h, 0, 28);
  h[0] = 0x45; h[2] = (uint8_t)(size >> 8); h[3] = (uint8_t)size; h[8] = 64; h[9] = 17;
  uint32_t s = htonl(src), d = htonl(dst);
  memcpy(h + 12, &s, 4); memcpy(h + 16, &d, 4);
  uint16_t c = ip_checksum(h, 20);
  h[10] = (uint8_t)(c >> 8); h[11] = (uint8_t)c;
  h[20] = 0x30; h[21] = 0x39; h[22] = 0x00; h[23] = 0x09; /* ports 12345 -> 9 (discard) */
  h[24] = (uint8_t)((size - 20) >> 8); h[25] = (uint8_t)(size - 20);
}

/* Paces a sender to `rate` packets/s (0 = as fast as it can): waits until `sent` packets are due. */
static void pace(double start, unsigned long long sent, double rate) {
  if (rate <= 0) return;
  double due = start + (double)sent / rate;
  double t = now();
  if (due - t > 100e-6) {
    struct timespec ts = { 0, (long)((due - t - 50e-6) * 1e9) };
    nanosleep(&ts, NULL);
  }
  while (now() < due) { }
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* ---- forward: the reference server data path ---- */
static int forward(const char *tun_name, const char *local) {
  int tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (tun < 0) { perror("/dev/net/tun"); return 1; }
  struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
  strncpy(ifr.ifr_name, tun_name, IFNAMSIZ - 1);
  if (ioctl(tun, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }
  int gre = open_raw_gre(local);
  fcntl(gre, F_SETFL, O_NONBLOCK);
  for (int i = 0; i < nsessions; i++) {
    session_t *s = &sessions[i];
    mppe_init(&s->rx, s->send_key, s->stateless); /* what the client sends */
    mppe_init(&s->tx, s->recv_key, s->stateless);
    s->seq = 1;
    by_call[s->server_call] = s;
    by_addr[s->addr & 0xffff] = s;
  }
  printf("ready\n");
  fflush(stdout);

  static uint8_t rbuf[BATCH][SLOT], tbuf[BATCH][SLOT];
  struct mmsghdr rmsg[BATCH], tmsg[BATCH];
  struct iovec riov[BATCH], tiov[BATCH];
  struct sockaddr_in rsa[BATCH], tsa[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i] = (struct iovec){ rbuf[i], SLOT };
    rmsg[i].msg_hdr = (struct msghdr){ .msg_name = &rsa[i], .msg_namelen = sizeof rsa[i], .msg_iov = &riov[i], .msg_iovlen = 1 };
    tmsg[i].msg_hdr = (struct msghdr){ .msg_name = &tsa[i], .msg_namelen = sizeof tsa[i], .msg_iov = &tiov[i], .msg_iovlen = 1 };
  }
  unsigned long long to_tun = 0, to_gre = 0, dropped = 0, resets = 0;
  uint8_t reset_id = 0;
  struct pollfd pfd[2] = { { .fd = gre, .events = POLLIN }, { .fd = tun, .events = POLLIN } };
  while (!stop) {
    if (poll(pfd, 2, 200) <= 0) continue;
    if (pfd[0].revents & POLLIN) {
      for (int i = 0; i < BATCH; i++) rmsg[i].msg_hdr.msg_namelen = sizeof rsa[i];
      int n = recvmmsg(gre, rmsg, BATCH, MSG_DONTWAIT, NULL);
      for (int k = 0; k < n; k++) {
        uint8_t *p = rbuf[k];
        int len = (int)rmsg[k].msg_len;
        int ihl = (p[0] & 0x0f) * 4;
        p += ihl; len -= ihl;
        if (len < 8 || (p[1] & 7) != 1 || p[2] != 0x88 || p[3] != 0x0b || !(p[0] & 0x20)) { dropped++; continue; }
        int hl = 8 + ((p[0] & 0x10) ? 4 : 0) + ((p[1] & 0x80) ? 4 : 0);
        int plen = p[4] << 8 | p[5];
        if (hl + plen > len || !(p[0] & 0x10) || plen == 0) { dropped++; continue; }
        session_t *s = by_call[p[6] << 8 | p[7]];
        if (!s || rsa[k].sin_addr.s_addr != peer_addr) { dropped++; continue; } /* source check: the call's peer only, as Linux's lookup_chan */
        uint32_t seq = ntohl(*(uint32_t *)(p + 8));
        if (s->have_rx && (int32_t)(seq - s->last_rx_seq) <= 0) { dropped++; continue; }
        s->have_rx = 1; s->last_rx_seq = seq;
        uint8_t *q = p + hl, *end = q + plen;
        if (end - q >= 2 && q[0] == 0xff && q[1] == 0x03) q += 2;
        if (end - q < 2 || q[0] != 0x00 || q[1] != 0xfd) { dropped++; continue; } /* control frames: not here */
        q += 2;
        int n2 = mppe_decrypt(&s->rx, q, (int)(end - q));
        if (n2 == MPPE_GAP) {
          /* RFC 3078 §8, as the server does: ask the peer to re-key (GRE | FF 03 80 FD | 14 id 00 04). */
          uint8_t r[20] = { 0x30, 0x01, 0x88, 0x0b, 0x00, 0x08, (uint8_t)(s->client_call >> 8), (uint8_t)s->client_call };
          *(uint32_t *)(r + 8) = htonl(s->seq++);
          r[12] = 0xff; r[13] = 0x03; r[14] = 0x80; r[15] = 0xfd; r[16] = CCP_RESET_REQUEST; r[17] = reset_id++; r[18] = 0x00; r[19] = 0x04;
          struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = peer_addr };
          if (sendto(gre, r, sizeof r, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)sizeof r) resets++;
        }
        if (n2 < 3 || q[2] != 0x00 || q[3] != 0x21) { dropped++; continue; }
        uint8_t *ip = q + 4;
        int iplen = n2 - 2;
        if (iplen < 20 || (ip[0] >> 4) != 4 || ntohl(*(uint32_t *)(ip + 12)) != s->addr) { dropped++; continue; }
        if (write(tun, ip, (size_t)iplen) == iplen) to_tun++; else dropped++;
      }
    }
    if (pfd[1].revents & POLLIN) {
      int m = 0;
      while (m < BATCH) {
        uint8_t *ip = tbuf[m] + HEADROOM;
        ssize_t r = read(tun, ip, SLOT - HEADROOM);
        if (r <= 0) break;
        if (r < 20 || (ip[0] >> 4) != 4) { dropped++; continue; }
        uint32_t dst = ntohl(*(uint32_t *)(ip + 16));
        session_t *s = by_addr[dst & 0xffff];
        if (!s || s->addr != dst) { dropped++; continue; }
        ip[-2] = 0x00; ip[-1] = 0x21;
        mppe_encrypt(&s->tx, ip - 2, (int)r + 2);
        uint8_t *g = ip - 4 - 4 - 12; /* GRE 12 | FF 03 00 FD | MPPE 2 | 00 21 */
        int plen = (int)r + 8;
        g[12] = 0xff; g[13] = 0x03; g[14] = 0x00; g[15] = 0xfd;
        g[0] = 0x30; g[1] = 0x01; g[2] = 0x88; g[3] = 0x0b;
        g[4] = (uint8_t)(plen >> 8); g[5] = (uint8_t)plen;
        g[6] = (uint8_t)(s->client_call >> 8); g[7] = (uint8_t)s->client_call;
        *(uint32_t *)(g + 8) = htonl(s->seq++);
        tiov[m] = (struct iovec){ g, (size_t)(plen + 12) };
        tsa[m] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = peer_addr };
        m++;
      }
      if (m > 0) { int sent = sendmmsg(gre, tmsg, (unsigned)m, 0); to_gre += sent > 0 ? (unsigned)sent : 0; }
    }
  }
  fprintf(stderr, "{\"toTun\":%llu,\"toGre\":%llu,\"dropped\":%llu,\"resetRequests\":%llu}\n", to_tun, to_gre, dropped, resets);
  return 0;
}

/*
 * The blaster's socket receives only CCP frames (GRE with a payload whose PPP protocol is 0x80FD,
 * with or without FF 03): the server's Reset-Requests. Everything else (GRE acks, downstream data)
 * is dropped by the kernel before it is queued, so the blaster never sits on a full receive queue.
 */
static void attach_ccp_filter(int fd) {
  struct sock_filter code[] = {
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),           /* 0: X = IP header length */
    BPF_STMT(BPF_MISC | BPF_TXA, 0),                  /* 1 */
    BPF_STMT(BPF_ST, 0),                              /* 2: M[0] = IHL */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),            /* 3: GRE payload length */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 19, 0),    /* 4: ack-only -> drop */
    BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),            /* 5: S bit -> 4 octets */
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x10),        /* 6 */
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 2),           /* 7 */
    BPF_STMT(BPF_ST, 1),                              /* 8 */
    BPF_STMT(BPF_LD | BPF_B | BPF_IND, 1),            /* 9: A bit -> 4 octets */
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x80),        /* 10 */
    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 5),           /* 11 */
    BPF_STMT(BPF_LDX | BPF_MEM, 1),                   /* 12 */
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),           /* 13 */
    BPF_STMT(BPF_LDX | BPF_MEM, 0),                   /* 14 */
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),           /* 15 */
    BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 8),           /* 16: offset of the PPP frame */
    BPF_STMT(BPF_MISC | BPF_TAX, 0),                  /* 17 */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),            /* 18 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x80fd, 3, 0),/* 19: CCP -> accept */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xff03, 0, 3),/* 20: address/control, else drop */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),            /* 21 */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x80fd, 0, 1),/* 22 */
    BPF_STMT(BPF_RET | BPF_K, 0xffff),                /* 23: accept */
    BPF_STMT(BPF_RET | BPF_K, 0),                     /* 24: drop */
  };
  struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) { perror("SO_ATTACH_FILTER"); exit(1); }
}

/* Drains the CCP frames queued on the blaster's socket; a Reset-Request makes that session's next
 * packet re-key and carry A, as a real peer does (RFC 3078 §8, Linux mppe_comp_reset). */
static unsigned long long resets_honoured;
static void drain_ccp(int fd) {
  uint8_t p[SLOT];
  ssize_t len;
  while ((len = recv(fd, p, sizeof p, MSG_DONTWAIT)) > 0) {
    int ihl = (p[0] & 0x0f) * 4;
    if (len < ihl + 8) continue;
    uint8_t *g = p + ihl;
    int hl = 8 + ((g[0] & 0x10) ? 4 : 0) + ((g[1] & 0x80) ? 4 : 0);
    uint8_t *q = g + hl, *end = p + len;
    if (end - q >= 2 && q[0] == 0xff && q[1] == 0x03) q += 2;
    if (end - q < 3 || q[0] != 0x80 || q[1] != 0xfd || q[2] != CCP_RESET_REQUEST) continue;
    session_t *s = by_call[g[6] << 8 | g[7]];
    if (s && !s->stateless) { s->tx.flush_pending = 1; resets_honoured++; }
  }
}

/* ---- blast: the clients' upstream traffic, MPPE-encrypted GRE to the server ---- */
static int blast(const char *server) {
  int gre = open_raw_gre(NULL);
  attach_ccp_filter(gre);
  struct sockaddr_in dst = { .sin_family = AF_INET };
  inet_pton(AF_INET, server, &dst.sin_addr);
  for (int i = 0; i < nsessions; i++) {
    session_t *s = &sessions[i];
    mppe_init(&s->tx, s->send_key, s->stateless);
    s->seq = s->first_seq;
    by_call[s->client_call] = s;
  }
  static uint8_t buf[BATCH][SLOT];
  struct mmsghdr msg[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) msg[i].msg_hdr = (struct msghdr){ .msg_name = &dst, .msg_namelen = sizeof dst, .msg_iov = &iov[i], .msg_iovlen = 1 };
  char line[128];
  printf("ready\n");
  fflush(stdout);
  int size, first, nsess;
  double seconds, rate;
  while (fgets(line, sizeof line, stdin) && sscanf(line, "%d %d %d %lf %lf", &size, &first, &nsess, &seconds, &rate) == 5) {
    if (first < 0 || first >= nsessions) first = 0;
    if (first + nsess > nsessions) nsess = nsessions - first;
    unsigned long long sent = 0, tried = 0, failed = 0, short_calls = 0, resets0 = resets_honoured;
    int next = 0, errors = 0, last_errno = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
      for (int b = 0; b < 64; b++) {
        pace(start, tried, rate);
        drain_ccp(gre);
        tried += BATCH;
        for (int k = 0; k < BATCH; k++) {
          session_t *s = &sessions[first + next];
          next = (next + 1) % nsess;
          uint8_t *g = buf[k];
          int plen = size + 8;
          g[0] = 0x30; g[1] = 0x01; g[2] = 0x88; g[3] = 0x0b;
          g[4] = (uint8_t)(plen >> 8); g[5] = (uint8_t)plen;
          g[6] = (uint8_t)(s->server_call >> 8); g[7] = (uint8_t)s->server_call;
          *(uint32_t *)(g + 8) = htonl(s->seq++);
          g[12] = 0xff; g[13] = 0x03; g[14] = 0x00; g[15] = 0xfd;
          g[18] = 0x00; g[19] = 0x21;
          build_ip(g + 20, size, s->addr, 0xc6120101u + (uint32_t)(next & 0xff)); /* 198.18.1.x: blackholed */
          mppe_encrypt(&s->tx, g + 18, size + 2);
          iov[k] = (struct iovec){ g, (size_t)(plen + 12) };
        }
        int r = sendmmsg(gre, msg, BATCH, 0);
        if (r > 0) sent += (unsigned)r;
        if (r < BATCH) {
          /* A packet sendmmsg did not take was encrypted: the receiver's key and sequence steps over it. */
          failed += (unsigned)(BATCH - (r > 0 ? r : 0));
          if (r >= 0) short_calls++;
          else { last_errno = errno; if (errors++ < 3) perror("blast sendmmsg"); }
        }
      }
    }
    printf("sent %llu tried %llu failed %llu short %llu errno %d resets %llu\n", sent, tried, failed, short_calls, last_errno, resets_honoured - resets0);
    fflush(stdout);
  }
  return 0;
}

/* ---- udpblast: downstream traffic into the server's TUN (plain UDP to session addresses) ---- */
static int udpblast(int size, int first, int nsess, double seconds, double rate) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 64 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (first < 0 || first >= nsessions) first = 0;
  if (nsess > nsessions - first) nsess = nsessions - first;
  static uint8_t payload[SLOT];
  struct sockaddr_in dst[BATCH];
  struct mmsghdr msg[BATCH];
  struct iovec iov = { payload, (size_t)(size - 28) };
  unsigned long long sent = 0, tried = 0;
  int next = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    pace(start, tried, rate);
    tried += BATCH;
    for (int k = 0; k < BATCH; k++) {
      dst[k] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(sessions[first + next].addr) };
      next = (next + 1) % nsess;
      msg[k].msg_hdr = (struct msghdr){ .msg_name = &dst[k], .msg_namelen = sizeof dst[k], .msg_iov = &iov, .msg_iovlen = 1 };
    }
    int r = sendmmsg(fd, msg, BATCH, 0);
    if (r > 0) sent += (unsigned)r;
  }
  printf("sent %llu\n", sent);
  return 0;
}

/* ---- sink: drains GRE on the client side; --verify decrypts and checks the inner IPv4 header ---- */
static int sink(const char *local, double seconds, int verify) {
  int gre = open_raw_gre(local);
  for (int i = 0; i < nsessions; i++) {
    mppe_init(&sessions[i].rx, sessions[i].recv_key, sessions[i].stateless);
    by_call[sessions[i].client_call] = &sessions[i];
  }
  static uint8_t buf[BATCH][SLOT];
  struct mmsghdr msg[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i] = (struct iovec){ buf[i], SLOT };
    msg[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
  }
  unsigned long long got = 0, good = 0;
  struct timeval tv = { 0, 200000 };
  setsockopt(gre, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  printf("ready\n");
  fflush(stdout);
  double end = seconds > 0 ? now() + seconds : 1e300;
  while (!stop && now() < end) {
    int n = recvmmsg(gre, msg, BATCH, 0, NULL);
    for (int k = 0; k < n; k++) {
      got++;
      if (!verify) continue;
      uint8_t *p = buf[k] + (buf[k][0] & 0x0f) * 4;
      int hl = 8 + ((p[0] & 0x10) ? 4 : 0) + ((p[1] & 0x80) ? 4 : 0);
      int plen = p[4] << 8 | p[5];
      session_t *s = by_call[p[6] << 8 | p[7]];
      if (!s || plen < 8) continue;
      uint8_t *q = p + hl;
      if (q[0] == 0xff) q += 2;
      if (q[0] != 0x00 || q[1] != 0xfd) continue;
      int m = mppe_decrypt(&s->rx, q + 2, plen - (int)(q + 2 - (p + hl)));
      if (m >= 22 && q[4] == 0x00 && q[5] == 0x21 && (q[6] >> 4) == 4 && ntohl(*(uint32_t *)(q + 6 + 16)) == s->addr) good++;
    }
  }
  fprintf(stderr, "{\"received\":%llu,\"verified\":%llu}\n", got, good);
  printf("received %llu verified %llu\n", got, good);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "", *keys = NULL, *tun = "pbtun1", *local = NULL, *server = "198.18.0.1", *peer = "198.18.0.2";
  int size = 1400, nsess = 1, first = 0, verify = 0;
  double seconds = 3, rate = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--keys")) keys = v, i++;
    else if (!strcmp(a, "--tun")) tun = v, i++;
    else if (!strcmp(a, "--local")) local = v, i++;
    else if (!strcmp(a, "--server")) server = v, i++;
    else if (!strcmp(a, "--peer")) peer = v, i++;
    else if (!strcmp(a, "--size")) size = atoi(v), i++;
    else if (!strcmp(a, "--sessions")) nsess = atoi(v), i++;
    else if (!strcmp(a, "--first")) first = atoi(v), i++;
    else if (!strcmp(a, "--seconds")) seconds = atof(v), i++;
    else if (!strcmp(a, "--rate")) rate = atof(v), i++;
    else if (!strcmp(a, "--verify")) verify = 1;
  }
  if (!keys) { fprintf(stderr, "usage: forwarder forward|blast|udpblast|sink --keys FILE ...\n"); return 2; }
  load_keys(keys);
  if (nsessions == 0) { fprintf(stderr, "no sessions in %s\n", keys); return 1; }
  struct in_addr pa;
  inet_pton(AF_INET, peer, &pa);
  peer_addr = pa.s_addr;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  if (!strcmp(mode, "forward")) return forward(tun, local);
  if (!strcmp(mode, "blast")) return blast(server);
  if (!strcmp(mode, "udpblast")) return udpblast(size, first, nsess, seconds, rate);
  if (!strcmp(mode, "sink")) return sink(local, seconds, verify);
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
