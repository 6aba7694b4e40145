/* The score's calibration: raw similarity -> 10 * log10(1 / FMR) on the
 * development data (docs/biometrics.md, "Scores").
 *
 * knots[s] is the raw similarity that exactly 10^(-s/10) of the 11,520
 * impostor comparisons of the development data (all pairs of different
 * fingers in FVC2002 DB1_B and DB3_B, FVC2004 DB1_B and DB3_B) reach or
 * exceed. Between knots the score is linear in the raw similarity; past the
 * last knot (where fewer than a dozen impostors remain to count) it
 * continues along the straight line fitted to the knots from score 15 on,
 * an exponential tail of the impostor distribution. Regenerate with
 * `bench/bio/run calibrate` whenever the matcher changes; the benchmark
 * checks that the table still gives FMR 0.1 % at BIO_THRESHOLD. */
#include "bio.h"

static const double knots[] = {
    0.009040, 0.012447, 0.013081, 0.013645, 0.014186, 0.014748,
    0.015283, 0.015857, 0.016424, 0.016998, 0.017586, 0.018195,
    0.018863, 0.019603, 0.020351, 0.021108, 0.022288, 0.023431,
    0.024249, 0.024874, 0.025909, 0.026686, 0.027454, 0.029202,
    0.030038, 0.030693, 0.031624, 0.032715, 0.033325, 0.037338,
    0.039193,
};
static const double tail_slope = 893.850215; /* score per unit of raw similarity */

#define NKNOTS (sizeof knots / sizeof knots[0])

double bio_score_from_raw(double raw)
{
    if (!(raw > knots[0]))
        return 0;
    double s;
    if (raw >= knots[NKNOTS - 1]) {
        s = (double)(NKNOTS - 1) + tail_slope * (raw - knots[NKNOTS - 1]);
    } else {
        size_t lo = 0, hi = NKNOTS - 1; /* knots[lo] < raw < knots[hi] */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (knots[mid] <= raw)
                lo = mid;
            else
                hi = mid;
        }
        s = (double)lo + (raw - knots[lo]) / (knots[hi] - knots[lo]);
    }
    return s > BIO_SCORE_MAX ? BIO_SCORE_MAX : s;
}
