/* Area moments of the surface (exact integrals over the triangles) and the
 * principal axes they give. */
#include "designs_int.h"

#include <math.h>
#include <string.h>

/* Cyclic Jacobi rotations: exact enough in a few sweeps for 3x3. */
void designs__eigen_sym3(double in[3][3], double eval[3], double evec[3][3])
{
    double a[3][3], v[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    memcpy(a, in, sizeof a);
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = fabs(a[0][1]) + fabs(a[0][2]) + fabs(a[1][2]);
        if (off <= 1e-300 || off <= 1e-15 * (fabs(a[0][0]) + fabs(a[1][1]) + fabs(a[2][2])))
            break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (a[p][q] == 0)
                    continue;
                double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; k++) { /* A = J^T A J */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; k++) {
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < 3; k++) {
                    double vkp = v[k][p], vkq = v[k][q];
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
    }
    int order[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++) /* descending */
        for (int j = i + 1; j < 3; j++)
            if (a[order[j]][order[j]] > a[order[i]][order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    for (int i = 0; i < 3; i++) {
        eval[i] = a[order[i]][order[i]];
        for (int k = 0; k < 3; k++)
            evec[i][k] = v[k][order[i]];
    }
}

cx_err designs__moments(const designs_mesh *m, designs_moments *out)
{
    memset(out, 0, sizeof *out);
    if (m->ntris == 0)
        return CX_EINVAL;
    /* integrals about the first vertex: no cancellation far from the origin */
    const double *o = m->xyz + 3 * (size_t)m->tri[0];
    double area = 0, s1[3] = {0, 0, 0}, s2[3][3] = {{0}};
    for (size_t t = 0; t < m->ntris; t++) {
        double p[3][3];
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                p[j][k] = m->xyz[3 * (size_t)m->tri[3 * t + j] + k] - o[k];
        double u[3] = {p[1][0] - p[0][0], p[1][1] - p[0][1], p[1][2] - p[0][2]};
        double v[3] = {p[2][0] - p[0][0], p[2][1] - p[0][1], p[2][2] - p[0][2]};
        double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                       u[0] * v[1] - u[1] * v[0]};
        double a = 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (a == 0)
            continue;
        double sum[3];
        for (int k = 0; k < 3; k++)
            sum[k] = p[0][k] + p[1][k] + p[2][k];
        area += a;
        for (int i = 0; i < 3; i++) {
            s1[i] += a * sum[i] / 3;
            for (int j = 0; j < 3; j++)
                s2[i][j] += a / 12 *
                            (p[0][i] * p[0][j] + p[1][i] * p[1][j] + p[2][i] * p[2][j] +
                             sum[i] * sum[j]);
        }
    }
    if (!(area > 0))
        return CX_EINVAL;
    out->area = area;
    double mu[3];
    for (int i = 0; i < 3; i++) {
        mu[i] = s1[i] / area;
        out->centroid[i] = mu[i] + o[i];
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out->cov[i][j] = s2[i][j] / area - mu[i] * mu[j];
    designs__eigen_sym3(out->cov, out->eval, out->evec);
    return CX_OK;
}
