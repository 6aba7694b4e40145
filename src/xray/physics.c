/* Physics: Beer–Lambert, material attenuation from xraylib, ISO container
 * sizes. */
#include "xray_int.h"

#include <math.h>
#include <string.h>
#include <xraylib.h>

double xray_areal_density(double v, double open_beam, double mu)
{
    if (v < 0.5)
        v = 0.5; /* the detector's floor: the density is at least this */
    return log(open_beam / v) / mu;
}

double xray_transmitted(double a, double open_beam, double mu)
{
    return open_beam * exp(-mu * a);
}

/* Klein–Nishina: the Compton cross-section of a free electron, cm². */
static double physics__klein_nishina(double kev)
{
    const double re = 2.8179403262e-13;
    double k = kev / 510.99895, l = log(1 + 2 * k);
    return 2 * M_PI * re * re *
           ((1 + k) / (k * k) * (2 * (1 + k) / (1 + 2 * k) - l / k) + l / (2 * k) -
            (1 + 3 * k) / ((1 + 2 * k) * (1 + 2 * k)));
}

/* Electrons per gram of a compound (N_A Σ w Z / A), from xraylib's parser
 * and atomic weights. */
static cx_err physics__electrons(const char *material, double *out, char *err, size_t errlen)
{
    xrl_error *xe = NULL;
    struct compoundData *cd = CompoundParser(material, &xe);
    if (!cd) {
        snprintf(err, errlen, "%s: %s", material, xe ? xe->message : "not a compound");
        xrl_error_free(xe);
        return CX_EINVAL;
    }
    double za = 0;
    for (int i = 0; i < cd->nElements && !xe; i++)
        za += cd->massFractions[i] * cd->Elements[i] / AtomicWeight(cd->Elements[i], &xe);
    FreeCompoundData(cd);
    if (xe) {
        snprintf(err, errlen, "%s: %s", material, xe->message);
        xrl_error_free(xe);
        return CX_EINVAL;
    }
    *out = 6.02214076e23 * za;
    return CX_OK;
}

#define XRL_MAX_KEV 800.0 /* xraylib's cross-section tables end here */

cx_err xray_material_mu(const char *material, double kev, double *mu, char *err, size_t errlen)
{
    if (!material || !*material || !(kev >= 1 && kev <= 20000)) {
        snprintf(err, errlen, "a material and an energy of 1 keV to 20 MeV are needed");
        return CX_EINVAL;
    }
    xrl_error *xe = NULL;
    double at = kev < XRL_MAX_KEV ? kev : XRL_MAX_KEV;
    double v = CS_Total_CP(material, at, &xe);
    if (xe || !(v > 0)) {
        snprintf(err, errlen, "%s at %g keV: %s", material, at,
                 xe ? xe->message : "no attenuation data");
        xrl_error_free(xe);
        return CX_EINVAL;
    }
    if (kev > XRL_MAX_KEV) {
        /* Above the tables Compton scattering dominates: Klein–Nishina on the
         * compound's electrons. What xraylib has beyond Compton at 800 keV
         * (the photoelectric part) fades with energy; pair production, left
         * out, stays under 3 % of the total below 2.6 MeV for Z ≤ 26. */
        double e_per_g;
        cx_err e = physics__electrons(material, &e_per_g, err, errlen);
        if (e != CX_OK)
            return e;
        double rest = v / (e_per_g * physics__klein_nishina(XRL_MAX_KEV));
        v = e_per_g * physics__klein_nishina(kev) * pow(rest, XRL_MAX_KEV / kev);
    }
    *mu = v;
    return CX_OK;
}

/* ISO 668 / ISO 1496-1 general-purpose steel boxes (typical inside sizes). */
static const xray_container_spec specs[] = {
    {XRAY_CT_20, "20ft", 6058, 2438, 2591, 5898, 2352, 2393, 2200},
    {XRAY_CT_40, "40ft", 12192, 2438, 2591, 12032, 2352, 2393, 3750},
    {XRAY_CT_40HC, "40ft-hc", 12192, 2438, 2896, 12032, 2352, 2698, 3900},
};

const xray_container_spec *xray_container(xray_ctype t)
{
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        if (specs[i].type == t)
            return &specs[i];
    return NULL;
}
