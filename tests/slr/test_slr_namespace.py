"""The two halves of attnlab.slr must not shadow each other's public names."""

from attnlab.slr import _part_a, _part_b


def test_parts_export_disjoint_names():
    assert set(_part_a.__all__).isdisjoint(_part_b.__all__)


def test_namespace_points_at_each_parts_sampler():
    import attnlab.slr as slr
    from attnlab.slr import erf_data, gslr_data

    assert slr.sample_slr is erf_data.sample_slr
    assert slr.sample_gslr is gslr_data.sample_slr
