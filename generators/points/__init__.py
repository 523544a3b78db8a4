"""Point-cloud generators: ``points_mesh`` (clouds sampled from meshes), ``points_lidar`` (a simulated
spinning LiDAR over placed objects) and ``points_insert`` (ground-truth sampling into real scans)."""
from .insert import InsertGenerator
from .lidar import LidarGenerator
from .mesh import MeshGenerator

__all__ = ["InsertGenerator", "LidarGenerator", "MeshGenerator"]
