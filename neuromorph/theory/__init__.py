"""Analytic theory of local learning (BPTT, tBPTT-1, RFLO) in data-aligned linear RNNs.

numpy/scipy only; never imports a backend. Equations and checks: Williams, Payeur & Lajoie 2026, docs/theory.md;
tests/ (checks 1–11), after Williams, Payeur, Lajoie, arXiv:2606.00243 (ICML 2026).

Modules
-------
teacher     student–teacher setup, aligned / non-aligned generators, validation
modes       per-mode triplets (a_i, b_i, w_i) and off-diagonal leakage
population  Stein-equation population gradients and the algorithms on finite sequences
odes        per-mode learning ODEs, their integration, discrete population GD, deviation metric
stability   stationary manifolds, stability matrices, convergence rates
rank        rank-restriction diagnostics and an SGD simulator
ordering    learning order of a mode-aligned teacher's modes in a non-aligned student
figures_data  data behind the theory figures (manifold stability, rates against w*)

The public names are re-exported below (``import name as name`` marks each re-export); each
module's ``__all__`` lists its own.
"""

from neuromorph.theory.figures_data import RULE_LABELS as RULE_LABELS
from neuromorph.theory.figures_data import manifold_points as manifold_points
from neuromorph.theory.figures_data import rates_vs_w_star as rates_vs_w_star
from neuromorph.theory.modes import ModeTrajectory as ModeTrajectory
from neuromorph.theory.modes import feedback_mode_values as feedback_mode_values
from neuromorph.theory.modes import mode_trajectory as mode_trajectory
from neuromorph.theory.modes import mode_values as mode_values
from neuromorph.theory.modes import off_diagonal_leakage as off_diagonal_leakage
from neuromorph.theory.modes import rotated_matrices as rotated_matrices
from neuromorph.theory.odes import IntegratorOptions as IntegratorOptions
from neuromorph.theory.odes import ModeFeedback as ModeFeedback
from neuromorph.theory.odes import bptt_field as bptt_field
from neuromorph.theory.odes import integrate_mode_odes as integrate_mode_odes
from neuromorph.theory.odes import max_relative_deviation as max_relative_deviation
from neuromorph.theory.odes import mode_field as mode_field
from neuromorph.theory.odes import population_gd as population_gd
from neuromorph.theory.odes import population_gd_modes as population_gd_modes
from neuromorph.theory.odes import rflo_field as rflo_field
from neuromorph.theory.odes import tbptt1_field as tbptt1_field
from neuromorph.theory.ordering import ModeOrder as ModeOrder
from neuromorph.theory.ordering import active_modes as active_modes
from neuromorph.theory.ordering import closed_form_mode_loss as closed_form_mode_loss
from neuromorph.theory.ordering import effective_feedback_modes as effective_feedback_modes
from neuromorph.theory.ordering import half_loss_time as half_loss_time
from neuromorph.theory.ordering import measured_half_times as measured_half_times
from neuromorph.theory.ordering import mode_losses as mode_losses
from neuromorph.theory.ordering import mode_order as mode_order
from neuromorph.theory.ordering import predicted_half_times as predicted_half_times
from neuromorph.theory.ordering import saddle_escape_scale as saddle_escape_scale
from neuromorph.theory.population import Activation as Activation
from neuromorph.theory.population import Gradients as Gradients
from neuromorph.theory.population import Rule as Rule
from neuromorph.theory.population import algorithm_gradients as algorithm_gradients
from neuromorph.theory.population import bptt_gradients as bptt_gradients
from neuromorph.theory.population import impulse_basis as impulse_basis
from neuromorph.theory.population import population_gradients as population_gradients
from neuromorph.theory.population import rflo_gradients as rflo_gradients
from neuromorph.theory.population import run_network as run_network
from neuromorph.theory.population import stein as stein
from neuromorph.theory.population import tbptt1_gradients as tbptt1_gradients
from neuromorph.theory.rank import RankDiagnostics as RankDiagnostics
from neuromorph.theory.rank import SGDRun as SGDRun
from neuromorph.theory.rank import feedback_residual as feedback_residual
from neuromorph.theory.rank import linear_sequence_gradients as linear_sequence_gradients
from neuromorph.theory.rank import numerical_rank as numerical_rank
from neuromorph.theory.rank import rank_diagnostics as rank_diagnostics
from neuromorph.theory.rank import sgd_train as sgd_train
from neuromorph.theory.rank import singular_values as singular_values
from neuromorph.theory.stability import RULES_WITH_ZERO_MANIFOLD as RULES_WITH_ZERO_MANIFOLD
from neuromorph.theory.stability import convergence_rate as convergence_rate
from neuromorph.theory.stability import finite_difference_jacobian as finite_difference_jacobian
from neuromorph.theory.stability import fit_decay_rate as fit_decay_rate
from neuromorph.theory.stability import lambda_min as lambda_min
from neuromorph.theory.stability import manifold_distance as manifold_distance
from neuromorph.theory.stability import optimum_point as optimum_point
from neuromorph.theory.stability import stability_invariants as stability_invariants
from neuromorph.theory.stability import stability_matrix as stability_matrix
from neuromorph.theory.stability import zero_manifold_eigenvalues as zero_manifold_eigenvalues
from neuromorph.theory.teacher import AlignedBases as AlignedBases
from neuromorph.theory.teacher import LinearRNN as LinearRNN
from neuromorph.theory.teacher import ModeValues as ModeValues
from neuromorph.theory.teacher import RFLOFeedback as RFLOFeedback
from neuromorph.theory.teacher import StudentTeacher as StudentTeacher
from neuromorph.theory.teacher import aligned_feedback as aligned_feedback
from neuromorph.theory.teacher import aligned_rnn as aligned_rnn
from neuromorph.theory.teacher import data_aligned_setup as data_aligned_setup
from neuromorph.theory.teacher import decay_matrix as decay_matrix
from neuromorph.theory.teacher import mode_aligned_setup as mode_aligned_setup
from neuromorph.theory.teacher import random_bases as random_bases
from neuromorph.theory.teacher import random_linear_rnn as random_linear_rnn
from neuromorph.theory.teacher import random_mode_values as random_mode_values
from neuromorph.theory.teacher import random_orthogonal as random_orthogonal
from neuromorph.theory.teacher import rectangular_diag as rectangular_diag
from neuromorph.theory.teacher import spectral_radius as spectral_radius
from neuromorph.theory.teacher import validate_feedback as validate_feedback
from neuromorph.theory.teacher import validate_rnn as validate_rnn
from neuromorph.theory.teacher import validate_student_teacher as validate_student_teacher
