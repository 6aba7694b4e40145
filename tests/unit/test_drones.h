/* The engine's tests live in test_drones_engine.c, registered here. */
#define DRONES_ENGINE_TESTS
