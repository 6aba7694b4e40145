/* Remote ID messages as JSON: snake_case members, SI units in the names,
 * enumerations as the standard's numbers with a readable _name beside them,
 * null for every "invalid, no value or unknown". docs/drones.md lists them. */
#include "drones_int.h"

#include <math.h>
#include <stdio.h>

static const char *const id_types[] = {"none", "serial_number", "caa_registration_id",
                                       "utm_assigned_uuid", "specific_session_id"};
static const char *const ua_types[] = {
    "none", "aeroplane", "helicopter_or_multirotor", "gyroplane", "hybrid_lift",
    "ornithopter", "glider", "kite", "free_balloon", "captive_balloon", "airship",
    "free_fall_parachute", "rocket", "tethered_powered_aircraft", "ground_obstacle", "other"};
static const char *const statuses[] = {"undeclared", "ground", "airborne", "emergency",
                                       "remote_id_system_failure"};
static const char *const auth_types[] = {"none", "uas_id_signature", "operator_id_signature",
                                         "message_set_signature", "network_remote_id",
                                         "specific_authentication"};
static const char *const desc_types[] = {"text", "emergency", "extended_status"};
static const char *const op_loc_types[] = {"takeoff", "live_gnss", "fixed"};
static const char *const op_id_types[] = {"operator_id"};
static const char *const class_types[] = {"undeclared", "eu"};
static const char *const categories[] = {"undeclared", "open", "specific", "certified"};
static const char *const classes[] = {"undeclared", "class_0", "class_1", "class_2",
                                      "class_3",    "class_4", "class_5", "class_6"};

#define NAMES(t) t, sizeof t / sizeof t[0]

/* A name from the table, else the range the standard gives the value:
 * "private_use" from private_from on (0: none), "reserved" otherwise. */
static const char *json__name(const char *const *tab, size_t n, unsigned v, unsigned private_from)
{
    if (v < n)
        return tab[v];
    return private_from && v >= private_from ? "private_use" : "reserved";
}

static void json__enum(json_t *o, const char *key, const char *const *tab, size_t n, unsigned v,
                       unsigned private_from)
{
    char name[48];
    snprintf(name, sizeof name, "%s_name", key);
    json_object_set_new(o, key, json_integer(v));
    json_object_set_new(o, name, json_string(json__name(tab, n, v, private_from)));
}

/* Whole numbers print as integers, others as the shortest real; NAN is null. */
json_t *drones__num(double v)
{
    if (isnan(v))
        return json_null();
    if (v == floor(v) && fabs(v) < 9e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static void json__num(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, drones__num(v));
}

static json_t *json__time(int64_t unix_s)
{
    if (unix_s == 0)
        return json_null();
    char t[32];
    cx_rfc3339_format(unix_s * 1000000, t);
    /* whole seconds: 2024-03-01T10:00:00Z, not .000Z */
    char *dot = t + 19;
    if (*dot == '.') {
        dot[0] = 'Z';
        dot[1] = '\0';
    }
    return json_string(t);
}

static void json__location(json_t *o, const drones_loc *l)
{
    json__enum(o, "status", NAMES(statuses), l->status, 0);
    json__num(o, "direction_deg", l->direction_deg);
    json__num(o, "speed_h_mps", l->speed_h_mps);
    json__num(o, "speed_v_mps", l->speed_v_mps);
    json__num(o, "lat", l->lat);
    json__num(o, "lon", l->lon);
    json__num(o, "alt_baro_m", l->alt_baro_m);
    json__num(o, "alt_geo_m", l->alt_geo_m);
    json__num(o, "height_m", l->height_m);
    json_object_set_new(o, "height_ref", json_string(l->height_ref ? "ground" : "takeoff"));
    json__num(o, "acc_h_m", drones_acc_h_m(l->acc_h));
    json__num(o, "acc_v_m", drones_acc_v_m(l->acc_v));
    json__num(o, "acc_baro_m", drones_acc_v_m(l->acc_baro));
    json__num(o, "acc_speed_mps", drones_acc_speed_mps(l->acc_speed));
    json__num(o, "timestamp_s", l->timestamp_s);
    json__num(o, "timestamp_acc_s", drones_acc_ts_s(l->acc_ts));
}

static void json__auth(json_t *o, const drones_auth *a)
{
    char hex[2 * 23 + 1];
    json__enum(o, "auth_type", NAMES(auth_types), a->auth_type, 10);
    json_object_set_new(o, "page", json_integer(a->page));
    json_object_set_new(o, "last_page", a->page ? json_null() : json_integer(a->last_page));
    json_object_set_new(o, "length", a->page ? json_null() : json_integer(a->length));
    json_object_set_new(o, "timestamp", json__time(a->page ? 0 : a->timestamp));
    cx_hex(a->data, a->ndata, hex);
    json_object_set_new(o, "data_hex", json_string(hex));
}

static void json__system(json_t *o, const drones_sys *s)
{
    bool eu = s->class_type == 1;
    json__enum(o, "operator_location_type", NAMES(op_loc_types), s->op_loc_type, 0);
    json__enum(o, "classification_type", NAMES(class_types), s->class_type, 0);
    json__num(o, "operator_lat", s->op_lat);
    json__num(o, "operator_lon", s->op_lon);
    json_object_set_new(o, "area_count", json_integer(s->area_count));
    json__num(o, "area_radius_m", s->area_radius_m);
    json__num(o, "area_ceiling_m", s->area_ceiling_m);
    json__num(o, "area_floor_m", s->area_floor_m);
    if (eu) {
        json__enum(o, "category_eu", NAMES(categories), s->category_eu, 0);
        json__enum(o, "class_eu", NAMES(classes), s->class_eu, 0);
    } else {
        json_object_set_new(o, "category_eu", json_null());
        json_object_set_new(o, "category_eu_name", json_null());
        json_object_set_new(o, "class_eu", json_null());
        json_object_set_new(o, "class_eu_name", json_null());
    }
    json__num(o, "operator_alt_geo_m", s->op_alt_geo_m);
    json_object_set_new(o, "timestamp", json__time(s->timestamp));
}

static const char *const type_names[] = {"basic_id", "location",  "auth",
                                         "self_id",  "system",    "operator_id"};

json_t *drones_msg_json(const drones_msg *m)
{
    if (m->type > DRONES_MT_OPERATOR_ID)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type_names[m->type]));
    json_object_set_new(o, "version", json_integer(m->version));
    switch (m->type) {
    case DRONES_MT_BASIC_ID:
        json__enum(o, "id_type", NAMES(id_types), m->u.basic.id_type, 0);
        json__enum(o, "ua_type", NAMES(ua_types), m->u.basic.ua_type, 0);
        json_object_set_new(o, "uas_id", json_string(m->u.basic.uas_id));
        break;
    case DRONES_MT_LOCATION: json__location(o, &m->u.loc); break;
    case DRONES_MT_AUTH: json__auth(o, &m->u.auth); break;
    case DRONES_MT_SELF_ID:
        json__enum(o, "desc_type", NAMES(desc_types), m->u.self_id.desc_type, 201);
        json_object_set_new(o, "description", json_string(m->u.self_id.text));
        break;
    case DRONES_MT_SYSTEM: json__system(o, &m->u.sys); break;
    case DRONES_MT_OPERATOR_ID:
        json__enum(o, "operator_id_type", NAMES(op_id_types),
                   m->u.op.op_id_type, 201);
        json_object_set_new(o, "operator_id", json_string(m->u.op.op_id));
        break;
    default: break;
    }
    return o;
}

json_t *drones_payload_json(const drones_msg *msgs, size_t n, bool is_pack)
{
    if (!is_pack)
        return n ? drones_msg_json(&msgs[0]) : NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, drones_msg_json(&msgs[i]));
    return json_pack("{s:s,s:o}", "type", "message_pack", "messages", arr);
}
