/*
 * lmwriter: the lab guest's workload (PID 1's child in the busybox initramfs).
 *
 * Disk: a ring of SLOTS blocks of 4 KiB at OFFSET bytes of DEVICE (the data
 * partition; the MBR and the boot partition are never written). Write number
 * `seq` (1, 2, 3, ... continued across boots) goes to slot seq % SLOTS with
 * O_DIRECT and is followed by fdatasync(); only then is `synced` = seq.
 * Block layout (little endian):
 *     0  magic "LMLABBLK"     8  u64 seq         16  u32 slot     20  u32 boot
 *    24  u64 uptime ns       32  payload: xorshift64 stream seeded from seq
 *  4092  u32 crc32 of bytes 0..4091
 * So a block proves its own integrity (crc, payload), its place (slot) and its
 * age (seq). For a ring whose newest write is S, slot s must hold the largest
 * seq <= S with seq % SLOTS == s: an older seq, an empty block or a corrupt
 * block there means a lost (or torn) write.
 *
 * RAM: MEM MiB are kept dirty: every tick a few pages are first checked
 * against the stamp of their previous pass, then rewritten with a new stamp.
 *
 * Serial console lines (one per event, parseable):
 *   LMLAB START boot=B dev=D offset=O slots=N bs=4096 mem_mib=M rate=R
 *   LMLAB BOOTCHECK boot=B maxseq=S ok=.. lost=.. corrupt=.. empty=.. misplaced=..
 *   LMLAB W boot=B seq=S synced=S up=T wps=R          (every --report seconds)
 *   LMLAB V boot=B synced=S ok=.. lost=.. corrupt=.. future=.. ringcrc=X up=T
 *   LMLAB M boot=B pass=P pages=.. bad=.. marker=LMLABRAM<16 hex>  (every full RAM pass)
 *   LMLAB RAMMARK boot=B marker=LMLABRAM<16 hex> pages=N   (once, at start)
 *   LMLAB ERROR ...
 * A V line reads the whole ring back with O_DIRECT and compares it with what
 * this process knows it has synced: lost=0 corrupt=0 means no write was lost.
 *
 * RAM marker: MARK_PAGES pages filled with one 24-byte string, "LMLABRAM" and 16 hex
 * digits from /dev/urandom, fresh at every boot, written once and kept. It exists only in
 * the guest's RAM (and in the console lines RAMMARK and M: a destination's console log
 * starts empty, so every RAM pass says it again), so a capture of a migration's memory
 * stream holds it when the stream is in clear and never when it is encrypted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAGIC "LMLABBLK"
#define MARK_PAGES 64

static void out(const char *fmt, ...);
static char *ram_marker;   /* global: the pages stay reachable, never optimised away */
static char ram_mark[25] = "none";

static void make_ram_marker(uint32_t boot, double up) {
    uint64_t r = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &r, sizeof r) != (ssize_t)sizeof r) r = 0;
        close(fd);
    }
    r ^= (uint64_t)(up * 1e9) * 0x9E3779B97F4A7C15ull;   /* never the same twice, even without urandom */
    char *mark = ram_mark;
    snprintf(ram_mark, sizeof ram_mark, "LMLABRAM%016llx", (unsigned long long)r);
    ram_marker = malloc((size_t)MARK_PAGES * 4096);
    if (!ram_marker) return;
    for (size_t i = 0; i + 24 <= (size_t)MARK_PAGES * 4096; i += 24) memcpy(ram_marker + i, mark, 24);
    out("LMLAB RAMMARK boot=%u marker=%s pages=%d", boot, mark, MARK_PAGES);
}

static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static double now_up(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void out(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(1, buf, n);
    (void)w;
}

static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint32_t get32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }

static void payload(unsigned char *p, uint64_t seq) {
    uint64_t x = seq * 0x9E3779B97F4A7C15ull ^ 0x4C4D4C4142ull;
    if (!x) x = 1;
    for (int i = 32; i < BS - 4; i += 8) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        put64(p + i, x);     /* last one (i = 4088) spills into the crc: fixed below */
    }
}

static void make_block(unsigned char *b, uint64_t seq, uint32_t slot, uint32_t boot) {
    memcpy(b, MAGIC, 8);
    put64(b + 8, seq);
    put32(b + 16, slot);
    put32(b + 20, boot);
    put64(b + 24, (uint64_t)(now_up() * 1e9));
    payload(b, seq);
    put32(b + BS - 4, crc32(b, BS - 4));
}

enum { B_EMPTY, B_CORRUPT, B_OK };
/* classify a block read from slot `slot`: returns B_*, sets *seq, *boot */
static int check_block(const unsigned char *b, uint32_t slot, uint64_t *seq, uint32_t *boot) {
    static unsigned char ref[BS];
    if (memcmp(b, MAGIC, 8) != 0) {
        for (int i = 0; i < BS; i++) if (b[i]) return B_CORRUPT;
        return B_EMPTY;
    }
    if (crc32(b, BS - 4) != get32(b + BS - 4)) return B_CORRUPT;
    *seq = get64(b + 8);
    *boot = get32(b + 20);
    if (get32(b + 16) != slot) return B_CORRUPT;
    payload(ref, *seq);
    if (memcmp(ref + 32, b + 32, BS - 36) != 0) return B_CORRUPT;
    return B_OK;
}

struct ring {
    int fd;
    off_t offset;
    uint32_t slots;
    unsigned char *buf;     /* aligned, 64 blocks */
};

/* expected seq in slot s when the newest write is S (0 = nothing expected) */
static uint64_t expected(uint64_t S, uint32_t slots, uint32_t s) {
    if (S < s) return 0;
    uint64_t e = S - ((S - s) % slots);
    return e;
}

struct scan { uint64_t maxseq; uint32_t maxboot, ok, lost, corrupt, empty, future, misplaced; uint32_t ringcrc; };

/* Read the whole ring. If synced == (uint64_t)-1, judge against the newest seq
 * found on disk (boot check); else against what this process has synced. */
static int scan_ring(struct ring *r, uint64_t synced, struct scan *sc) {
    memset(sc, 0, sizeof *sc);
    const uint32_t chunk = 64;
    uint64_t *seqs = malloc(sizeof(uint64_t) * r->slots);
    unsigned char *state = malloc(r->slots);
    if (!seqs || !state) { out("LMLAB ERROR oom in scan"); exit(1); }
    uint32_t crcacc = 0;
    for (uint32_t s0 = 0; s0 < r->slots; s0 += chunk) {
        uint32_t n = r->slots - s0 < chunk ? r->slots - s0 : chunk;
        ssize_t got = pread(r->fd, r->buf, (size_t)n * BS, r->offset + (off_t)s0 * BS);
        if (got != (ssize_t)n * BS) {
            out("LMLAB ERROR read slot=%u: %s", s0, got < 0 ? strerror(errno) : "short read");
            free(seqs); free(state);
            return -1;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint64_t seq = 0; uint32_t boot = 0;
            int st = check_block(r->buf + (size_t)i * BS, s0 + i, &seq, &boot);
            state[s0 + i] = st;
            seqs[s0 + i] = seq;
            crcacc = crcacc * 31 + get32(r->buf + (size_t)i * BS + BS - 4);
            if (st == B_OK && seq > sc->maxseq) { sc->maxseq = seq; sc->maxboot = boot; }
        }
    }
    sc->ringcrc = crcacc;
    uint64_t S = synced == (uint64_t)-1 ? sc->maxseq : synced;
    for (uint32_t s = 0; s < r->slots; s++) {
        uint64_t e = expected(S, r->slots, s);
        if (state[s] == B_CORRUPT) { sc->corrupt++; continue; }
        if (state[s] == B_EMPTY) { if (e) sc->lost++; else sc->empty++; continue; }
        if (seqs[s] % r->slots != s) { sc->misplaced++; continue; }
        if (seqs[s] == e) sc->ok++;
        else if (seqs[s] > S) sc->future++;
        else sc->lost++;
    }
    free(seqs); free(state);
    return 0;
}

static unsigned long arg_num(const char *s) { return strtoul(s, NULL, 0); }

int main(int argc, char **argv) {
    const char *dev = "/dev/vda";
    unsigned long offset_mib = 32, slots = 8192, mem_mib = 32, rate = 50;
    double report = 1.0, verify_every = 5.0, mem_pass = 4.0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v = strchr(a, '=');
        if (!v) { dev = a; continue; }
        *v++ = 0;
        if (!strcmp(a, "offset_mib")) offset_mib = arg_num(v);
        else if (!strcmp(a, "slots")) slots = arg_num(v);
        else if (!strcmp(a, "mem_mib")) mem_mib = arg_num(v);
        else if (!strcmp(a, "rate")) rate = arg_num(v);
        else if (!strcmp(a, "report")) report = atof(v);
        else if (!strcmp(a, "verify")) verify_every = atof(v);
        else if (!strcmp(a, "mem_pass")) mem_pass = atof(v);
    }
    crc_init();
    struct ring r = { .offset = (off_t)offset_mib << 20, .slots = slots };
    r.fd = open(dev, O_RDWR | O_DIRECT | O_SYNC);
    if (r.fd < 0) { out("LMLAB ERROR open %s: %s", dev, strerror(errno)); return 1; }
    if (posix_memalign((void **)&r.buf, BS, 64 * BS)) { out("LMLAB ERROR memalign"); return 1; }
    unsigned char *wb;
    if (posix_memalign((void **)&wb, BS, BS)) return 1;

    struct scan sc;
    if (scan_ring(&r, (uint64_t)-1, &sc) < 0) return 1;
    uint32_t boot = sc.maxboot + 1;
    out("LMLAB START boot=%u dev=%s offset=%lu slots=%lu bs=%d mem_mib=%lu rate=%lu",
        boot, dev, (unsigned long)r.offset, slots, BS, mem_mib, rate);
    out("LMLAB BOOTCHECK boot=%u maxseq=%llu prevboot=%u ok=%u lost=%u corrupt=%u empty=%u misplaced=%u future=%u ringcrc=%08x",
        boot, (unsigned long long)sc.maxseq, sc.maxboot, sc.ok, sc.lost, sc.corrupt,
        sc.empty, sc.misplaced, sc.future, sc.ringcrc);

    make_ram_marker(boot, now_up());

    /* RAM */
    size_t pages = (size_t)mem_mib * 256;
    uint64_t *mem = NULL;
    if (pages && posix_memalign((void **)&mem, 4096, pages * 4096)) { out("LMLAB ERROR mem"); return 1; }
    uint32_t *pass_of = calloc(pages ? pages : 1, sizeof(uint32_t));
    size_t next_page = 0;
    uint32_t mem_passno = 1, mem_bad = 0, mem_bad_total = 0;
    double ticks_per_pass = mem_pass * (rate ? rate : 1);
    size_t pages_per_tick = pages ? (size_t)(pages / (ticks_per_pass > 1 ? ticks_per_pass : 1)) + 1 : 0;

    uint64_t seq = sc.maxseq, synced = sc.maxseq;
    uint64_t wcount = 0, last_wcount = 0;
    double t_report = now_up(), t_verify = now_up();
    double interval = rate ? 1.0 / rate : 0;
    double next = now_up();
    for (;;) {
        /* disk write */
        seq++;
        uint32_t slot = seq % slots;
        make_block(wb, seq, slot, boot);
        ssize_t w = pwrite(r.fd, wb, BS, r.offset + (off_t)slot * BS);
        if (w != BS) {
            out("LMLAB ERROR write seq=%llu: %s", (unsigned long long)seq,
                w < 0 ? strerror(errno) : "short write");
            seq--;
            sleep(1);
            continue;
        }
        if (fdatasync(r.fd) != 0) {
            out("LMLAB ERROR fdatasync seq=%llu: %s", (unsigned long long)seq, strerror(errno));
            sleep(1);
            continue;
        }
        synced = seq;
        wcount++;
        /* RAM: check then restamp a few pages */
        for (size_t k = 0; k < pages_per_tick && pages; k++) {
            size_t pg = next_page;
            uint64_t *p = mem + pg * 512;
            if (pass_of[pg]) {
                uint64_t want = (uint64_t)pass_of[pg] << 32 | pg;
                for (int j = 0; j < 512; j++)
                    if (p[j] != (want ^ (uint64_t)j * 0x100000001ull)) { mem_bad++; break; }
            }
            uint64_t stamp = (uint64_t)mem_passno << 32 | pg;
            for (int j = 0; j < 512; j++) p[j] = stamp ^ (uint64_t)j * 0x100000001ull;
            pass_of[pg] = mem_passno;
            if (++next_page == pages) {
                next_page = 0;
                mem_bad_total += mem_bad;
                out("LMLAB M boot=%u pass=%u pages=%zu bad=%u bad_total=%u up=%.3f marker=%s",
                    boot, mem_passno, pages, mem_bad, mem_bad_total, now_up(), ram_mark);
                mem_bad = 0;
                mem_passno++;
            }
        }
        double t = now_up();
        if (t - t_report >= report) {
            out("LMLAB W boot=%u seq=%llu synced=%llu up=%.3f wps=%.1f", boot,
                (unsigned long long)seq, (unsigned long long)synced, t,
                (wcount - last_wcount) / (t - t_report));
            last_wcount = wcount;
            t_report = t;
        }
        if (verify_every > 0 && t - t_verify >= verify_every) {
            if (scan_ring(&r, synced, &sc) == 0)
                out("LMLAB V boot=%u synced=%llu ok=%u lost=%u corrupt=%u future=%u misplaced=%u empty=%u ringcrc=%08x up=%.3f",
                    boot, (unsigned long long)synced, sc.ok, sc.lost, sc.corrupt,
                    sc.future, sc.misplaced, sc.empty, sc.ringcrc, now_up());
            t_verify = now_up();
        }
        if (interval > 0) {
            next += interval;
            double d = next - now_up();
            if (d > 0) {
                struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };
                nanosleep(&ts, NULL);
            } else if (d < -1.0) {
                next = now_up();   /* fell behind (e.g. paused guest): no burst */
            }
        }
    }
}
