/*
 * inspect.h — the door of the inspection module (issue 13): the inspection
 * guide for a declaration sent to inspection (steps from the risk reasons,
 * the ledger's findings, tracking alerts, the X-ray scan and the checklists
 * in data/inspection/), the officer's progress and photos, live
 * remote-expert sessions (camera frames, annotations, chat over
 * Server-Sent Events, recorded and replayable) and their retention.
 * Public names carry the prefix inspect_. docs/inspection.md has the API.
 *
 * It reads declarations through declare's door (decl_view, decl_lookup)
 * and owns the tables inspect_* only.
 */
#ifndef CUSTOMS_INSPECT_H
#define CUSTOMS_INSPECT_H

#include "core.h"
#include "declare.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- guide rules (data/inspection/) --------------------------------------------
 * The rules that turn reasons into steps and the checklists per HS chapter
 * and procedure, kept as data a deployment edits (data/inspection/README.md).
 * inspect_rules_parse checks one rules document (the JSON text of
 * guide.json): every problem goes to problems as {"path","message"}; NULL
 * when there is any. The result is freed with inspect_rules_free. */
typedef struct inspect_rules inspect_rules;
inspect_rules *inspect_rules_parse(const char *text, size_t len, json_t *problems);
/* Loads dir/guide.json ("": cx_data_dir()/inspection). err names the file
 * and the first problem. */
cx_err inspect_rules_load(const char *dir, inspect_rules **out, char *err, size_t errlen);
void inspect_rules_free(inspect_rules *r);

/* The guide's steps for one declaration, before numbering: built from
 * decl (the stored document, for HS chapters and procedure), risk (the
 * declaration's risk member: lane and reasons) and scan_regions (the X-ray
 * module's regions of its scan, or NULL). Returns a new array of
 * {"key","title","instruction","where","source","check"}; key is stable
 * across calls for the same cause, so progress survives new reasons.
 * Caller owns it. */
json_t *inspect_guide_steps(const inspect_rules *rules, const json_t *decl, const json_t *risk,
                            const json_t *scan_regions);

/* ---- frames and annotations ------------------------------------------------------ */
#define INSPECT_FRAME_MAX ((size_t)2 << 20)  /* a session frame */
#define INSPECT_PHOTO_MAX ((size_t)8 << 20)  /* a photo of a finding */
#define INSPECT_SHAPES_MAX 64
#define INSPECT_TEXT_MAX 2000                /* characters of a note, chat line, annotation */

/* A JPEG's size from its header (libjpeg). CX_EPARSE when the bytes are
 * not a JPEG image, CX_ETOOBIG over 16384 pixels a side. */
cx_err inspect_jpeg_probe(const void *data, size_t len, unsigned *width, unsigned *height);

/* Checks an annotation body against a frame of width x height pixels:
 * {"frame":N,"shapes":[{"kind":"box"|"arrow","x","y","w","h"}…],"text"} or a
 * chat line {"text"} alone. Boxes lie inside the frame with w, h > 0; an
 * arrow runs from (x,y) to (x+w,y+h), both ends inside. Problems go to
 * problems; returns true when there are none. *chat tells which it is. */
bool inspect_annotation_check(const json_t *body, unsigned width, unsigned height,
                              bool *chat, json_t *problems);

/* ---- training (simulated cases; never declarations) -------------------------------
 * A case as `customs training generate` builds it from the simulators: a
 * declaration-like document (never stored as a declaration, never in
 * queues or counts), its risk reasons, ledger and tracking events, a scan
 * (8-bit PNG) with the hidden regions in its pixels, the right lane and
 * what to tell the trainee afterwards. Every pointer is borrowed. */
typedef struct {
    uint64_t seed, index;           /* (seed, index) is unique: generating twice adds nothing */
    const json_t *declaration;      /* object */
    const json_t *reasons;          /* [{"feature","detail"}] */
    const json_t *events;           /* [{"source":"ledger"|"track","time","text"}] */
    const json_t *regions;          /* hidden: [{"x","y","w","h","what"}] in pixels */
    const char *lane;               /* the right decision: red, yellow or green */
    const char *explanation;
    const uint8_t *png;
    size_t png_len;
    unsigned width, height;
} inspect_training_case;
/* Stores one case (blocking until durable); id gets its id. CX_EEXIST
 * when (seed, index) is stored already. */
cx_err inspect_training_add(store *s, const inspect_training_case *c, char id[CX_ID_LEN + 1]);

/* Scores an answer: score = 100 x (0.4 x lane correct + 0.6 x F1 of the
 * marks against the hidden regions), a mark found when its IoU with a
 * hidden region is at least 0.3 (each region and mark matched once, best
 * IoU first); no regions and no marks is an F1 of 1. marks and regions are
 * arrays of {"x","y","w","h"}. */
typedef struct {
    double score;
    int found, missed, false_marks;
    bool lane_correct;
} inspect_score;
void inspect_training_score(const json_t *regions, const char *right_lane, const char *lane,
                            const json_t *marks, inspect_score *out);

/* ---- the service ------------------------------------------------------------------ */
typedef struct {
    int64_t frame_retention_days; /* session frames kept this long, then erased (30) */
    const char *data_dir;         /* guide rules; NULL: cx_data_dir()/inspection */
    unsigned heartbeat_s;         /* a comment line on quiet session streams this often (15) */
} inspect_config;

typedef struct inspect_service inspect_service;

cx_err inspect_migrate(store *s, char *err, size_t errlen);

/* Starts the service (its retention thread). s and decl are borrowed and
 * must outlive it. *out is freed with inspect_service_free. */
cx_err inspect_service_new(store *s, decl_service *decl, const inspect_config *cfg,
                           inspect_service **out, char *err, size_t errlen);
/* Stops the retention thread and ends the session streams; safe twice. */
void inspect_service_stop(inspect_service *s);
/* Stops if needed and frees (after http_server_free). NULL is a no-op. */
void inspect_service_free(inspect_service *s);

/* Erases the frames of sessions that ended before now_us minus the
 * retention; sessions, annotations, chat, guides and outcomes stay.
 * *erased (may be NULL) gets the number of frames erased. Once the
 * service is stopping it ends between writer jobs with CX_ESHUTDOWN (the
 * next start runs it again). */
cx_err inspect_retention_run(inspect_service *s, int64_t now_us, uint64_t *erased);
/* Thins the frames of closed sessions (see docs/inspection.md) in writer
 * jobs of at most 500 frames each, until none waits; the retention thread
 * runs it at start (what a restart interrupted) and after each close.
 * *thinned (may be NULL) gets the frames deleted. Once the service is
 * stopping it ends between jobs with CX_ESHUTDOWN; the position is kept,
 * so the next start resumes. */
cx_err inspect_thin_run(inspect_service *s, uint64_t *thinned);

/* The photos of the inspection record (the risk module's outcome, through
 * risk_config.photos; app_services wires it): run on the writer w inside
 * the record's job. Each hash of sent (JSON text of an array of SHA-256s)
 * not uploaded for declaration seq goes to problems as /photos/<i>;
 * otherwise *all gets the JSON text of sent followed by the photos linked
 * to the guide's steps (step order), each once. Caller frees *all. */
cx_err inspect_outcome_photos(store_conn *w, int64_t seq, const char *sent, json_t *problems,
                              char **all);

/* GET /v1/declarations/{id}/inspection-guide, POST …/inspection-guide/steps/{n},
 * POST /v1/declarations/{id}/photos, GET /v1/photos/{sha256},
 * POST/GET /v1/declarations/{id}/sessions, GET /v1/sessions/{sid},
 * POST /v1/sessions/{sid}/frames, GET /v1/sessions/{sid}/frames/{n},
 * POST /v1/sessions/{sid}/annotations, GET /v1/sessions/{sid}/stream,
 * GET /v1/sessions/{sid}/events, POST /v1/sessions/{sid}/close,
 * GET /v1/training/cases/next, GET /v1/training/cases/{id}/image.png,
 * POST /v1/training/cases/{id}/answer, GET /v1/training/results; metrics. */
cx_err inspect_routes(inspect_service *s, http_server *srv);

#endif
