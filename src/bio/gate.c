/* The decision gate "bio.verified": operators verified before they act. A
 * key issued to a person (keys create --subject) records an officer's
 * decision only after that person's biometric verification succeeded
 * within the window; the question is asked of the audit inside the
 * decision's own transaction, so a verification and a decision cannot
 * pass each other. */
#include "bio.h"

#include "declare.h"

static int64_t gate__window(const bio_host *h)
{
    return h->window_s > 0 ? h->window_s : 12 * 3600;
}

static cx_err gate__check(void *ctx, const decl_gate_call *c, decl_gate_refusal *no)
{
    const bio_host *h = ctx;
    if (!c->who || !c->who->subject[0])
        return CX_OK; /* keys without a subject behave as before */
    int64_t window = gate__window(h);
    bool ok = false;
    cx_err e = bio_verified_since(c->w, c->who->subject, cx_now_us() - window * 1000000, &ok);
    if (e || ok)
        return e;
    return decl_gate_refuse(no, 409, "verification_required", "/decision",
                            "the operator this key stands for, %s, has no successful "
                            "biometric verification in the last %lld hours: an officer or a "
                            "capture station verifies them first (POST /v1/biometrics/verify)",
                            c->who->subject, (long long)(window / 3600));
}

cx_err bio_gate_add(decl_service *d, const bio_host *host)
{
    decl_gate g = {.name = "bio.verified", .order = DECL_GATE_BIO, .check = gate__check,
                   .ctx = (void *)host};
    return decl_gate_add(d, &g);
}
