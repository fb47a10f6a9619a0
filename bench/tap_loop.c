/* tap_loop.c -- the C floor for a two-TAP IPv4 router: poll(), read(), write().
 *
 * What a C programmer writes first for router.click's fast path: one
 * thread, poll() on the two TAP fds, on readiness read() frames (until
 * EAGAIN, at most BURST per turn), answer ARP requests for the router's own
 * two addresses, forward IPv4 frames addressed to the router's MAC to the
 * other TAP (TTL decremented with the incremental checksum of RFC 1624, the
 * Ethernet header rewritten for the host on that side, whose MAC is given),
 * and write() each frame at once.  No route table, no ICMP, no fragmenting:
 * a floor, not a router.
 *
 * bench/bench_ping_legs.py opens and configures the TAPs (as vforward
 * does) and runs this with the two fds inherited:
 *
 *   tap_loop FD1 FD2 IP1 IP2 MAC1 MAC2 HOSTMAC1 HOSTMAC2
 *
 * It prints "ready", runs until SIGTERM or SIGINT, then prints its counts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BURST 64

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct side {
    int fd;
    uint8_t ip[4], mac[6], host_mac[6];
    unsigned long in, out, arp, dropped;
};

static void parse_mac(const char *s, uint8_t *mac) {
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
        fprintf(stderr, "tap_loop: bad MAC %s\n", s);
        exit(2);
    }
    for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
}

static void parse_ip(const char *s, uint8_t *ip) {
    if (inet_pton(AF_INET, s, ip) != 1) {
        fprintf(stderr, "tap_loop: bad address %s\n", s);
        exit(2);
    }
}

static void send_frame(struct side *out, uint8_t *frame, ssize_t len) {
    if (write(out->fd, frame, (size_t)len) == len)
        out->out++;
    else
        out->dropped++;
}

/* An ARP request for our address on this side: turn it into the reply. */
static void answer_arp(struct side *s, uint8_t *f, ssize_t len) {
    if (len < 42 || f[20] != 0 || f[21] != 1 || memcmp(f + 38, s->ip, 4) != 0)
        return;
    uint8_t sender_mac[6], sender_ip[4];
    memcpy(sender_mac, f + 22, 6);
    memcpy(sender_ip, f + 28, 4);
    memcpy(f, sender_mac, 6);
    memcpy(f + 6, s->mac, 6);
    f[21] = 2;
    memcpy(f + 22, s->mac, 6);
    memcpy(f + 28, s->ip, 4);
    memcpy(f + 32, sender_mac, 6);
    memcpy(f + 38, sender_ip, 4);
    s->arp++;
    send_frame(s, f, len);
}

static void forward_ip(struct side *in, struct side *out, uint8_t *f, ssize_t len) {
    if (len < 34 || memcmp(f, in->mac, 6) != 0 || (f[14] >> 4) != 4 || f[22] <= 1) {
        in->dropped++;
        return;
    }
    /* TTL - 1; the checksum word holding TTL goes down by 0x0100 (RFC 1624). */
    f[22]--;
    uint32_t sum = (uint32_t)((f[24] << 8) | f[25]) + 0x0100;
    sum = (sum & 0xffff) + (sum >> 16);
    f[24] = (uint8_t)(sum >> 8);
    f[25] = (uint8_t)sum;
    memcpy(f, out->host_mac, 6);
    memcpy(f + 6, out->mac, 6);
    send_frame(out, f, len);
}

static void drain(struct side *in, struct side *out) {
    static uint8_t frame[65536];
    for (int i = 0; i < BURST; i++) {
        ssize_t len = read(in->fd, frame, sizeof frame);
        if (len < 0)
            return;                 /* EAGAIN: back to poll() */
        in->in++;
        if (len < 14)
            continue;
        if (frame[12] == 0x08 && frame[13] == 0x06)
            answer_arp(in, frame, len);
        else if (frame[12] == 0x08 && frame[13] == 0x00)
            forward_ip(in, out, frame, len);
    }
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: tap_loop FD1 FD2 IP1 IP2 MAC1 MAC2 HOSTMAC1 HOSTMAC2\n");
        return 2;
    }
    struct side s[2];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 2; i++) {
        s[i].fd = atoi(argv[1 + i]);
        parse_ip(argv[3 + i], s[i].ip);
        parse_mac(argv[5 + i], s[i].mac);
        parse_mac(argv[7 + i], s[i].host_mac);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("ready\n");
    fflush(stdout);
    struct pollfd p[2] = {{s[0].fd, POLLIN, 0}, {s[1].fd, POLLIN, 0}};
    while (!stop) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        if (p[0].revents & POLLIN)
            drain(&s[0], &s[1]);
        if (p[1].revents & POLLIN)
            drain(&s[1], &s[0]);
    }
    for (int i = 0; i < 2; i++)
        printf("if%d: in %lu out %lu arp %lu dropped %lu\n", i + 1, s[i].in, s[i].out, s[i].arp,
               s[i].dropped);
    return 0;
}
