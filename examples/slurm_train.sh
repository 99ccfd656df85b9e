#!/bin/bash
# Panoptic FPN on several machines with SLURM: one task per machine, each starting one process
# per GPU through detectron2's launcher (docs/training_evaluation.md, "Several machines").
#
#   sbatch --nodes 2 examples/slurm_train.sh configs/COCO-PanopticSegmentation/panfpn_R_50_1x.yaml \
#       OUTPUT_DIR /shared/output/panfpn_R_50_1x
#
# OUTPUT_DIR must be on a file system every machine sees (checkpoints, --resume).
#SBATCH --job-name=panfpn
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
set -euo pipefail

CONFIG=${1:?usage: sbatch --nodes N examples/slurm_train.sh CONFIG [KEY VALUE ...]}
shift
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
PORT=${PORT:-29500}
# machine 0 of the allocation hosts the rendezvous
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

# single quotes: SLURM_NODEID is each task's own machine rank, expanded on that machine
srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 bash -c '
  exec python train_net.py --config-file "$0" --num-gpus '"$GPUS_PER_NODE"' \
    --num-machines "$SLURM_NNODES" --machine-rank "$SLURM_NODEID" \
    --dist-url tcp://'"$MASTER_ADDR:$PORT"' --resume "$@"' "$CONFIG" "$@"
