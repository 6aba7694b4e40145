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
    0.009707, 0.012744, 0.013549, 0.014264, 0.014954, 0.015679,
    0.016413, 0.017156, 0.017875, 0.018656, 0.019566, 0.020491,
    0.021403, 0.022471, 0.023731, 0.025107, 0.026639, 0.028153,
    0.029678, 0.030819, 0.032101, 0.033525, 0.035247, 0.036673,
    0.038893, 0.040896, 0.043555, 0.045279, 0.048141, 0.051205,
    0.052800,
};
static const double tail_slope = 536.404773; /* score per unit of raw similarity */

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
