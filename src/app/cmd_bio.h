/* cmd_bio.h — what the two files of 'customs bio' share. */
#ifndef CUSTOMS_CMD_BIO_H
#define CUSTOMS_CMD_BIO_H

#include "app.h"

#include "bio.h"

#include <pthread.h>

int bio__help(void);
/* Up to 1 MiB of a file; malloc'd. */
uint8_t *bio__read_file(const char *path, size_t *len, char *err, size_t errlen);
/* Parses a template file into features (permissive unless strict). */
bio_features *bio__load(const char *path, bool strict, char *err, size_t errlen);

/* Pairs of template files, each file parsed once. */
typedef struct {
    char **paths;
    bio_features **feat;
    size_t npaths;
    size_t npairs;
    size_t *a, *b; /* indexes into paths */
    double *score;
} bio_pairs;

/* Reads the pair files in order; counts[i] gets the pairs of files[i]. */
cx_err bio__pairs_load(bio_pairs *p, const char *const *files, size_t nfiles, size_t *counts,
                       bool strict, char *err, size_t errlen);
void bio__pairs_free(bio_pairs *p);
/* Scores every pair; returns the wall time of the comparisons, seconds. */
double bio__pairs_compare(bio_pairs *p, unsigned threads);

int bio__cmd_enrol(int argc, char **argv);
int bio__cmd_identify(int argc, char **argv);
int bio__cmd_verify(int argc, char **argv);
int bio__cmd_erase(int argc, char **argv);
int bio__cmd_expire(int argc, char **argv);
int bio__cmd_audit(int argc, char **argv);
int bio__cmd_digest(int argc, char **argv);

#endif
