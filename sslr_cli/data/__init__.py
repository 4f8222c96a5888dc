"""Scene generators, the HDF5 store and in-memory batch loading."""
