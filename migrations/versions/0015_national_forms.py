"""national record forms: the whole follow-up form, the annual health check, referrals

A follow-up held only the readings its classification needs; it now holds every field of the
national forms (高血压/2型糖尿病患者随访服务记录表): signs with BMI, lifestyle now and target,
HbA1c, the adverse reaction and hypoglycaemia, medications and insulin, the referral section.
Visits stored before keep nulls there and an empty medication list.

health_checks holds the annual health check (健康体检表): the readings indicators use as
columns, each section of the form as a JSON object its schema checks. referrals follows a
referral made at a follow-up through referred, received and returned with a result;
contract_items.health_check marks the item that health checks count toward.

Revision ID: 0015_national_forms
Revises: 0014_job_run_retries
Create Date: 2026-12-02 15:56:12.671120

"""
import sqlalchemy as sa
from alembic import op

revision = '0015_national_forms'
down_revision = '0014_job_run_retries'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('health_checks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('resident_id', sa.String(length=36), nullable=False),
    sa.Column('checked_on', sa.Date(), nullable=False),
    sa.Column('recorded_by_id', sa.String(length=36), nullable=True),
    sa.Column('team_id', sa.String(length=36), nullable=True),
    sa.Column('sbp', sa.Integer(), nullable=True),
    sa.Column('dbp', sa.Integer(), nullable=True),
    sa.Column('heart_rate', sa.Integer(), nullable=True),
    sa.Column('weight_kg', sa.Float(), nullable=True),
    sa.Column('height_cm', sa.Float(), nullable=True),
    sa.Column('bmi', sa.Float(), nullable=True),
    sa.Column('waist_cm', sa.Float(), nullable=True),
    sa.Column('fasting_glucose', sa.Float(), nullable=True),
    sa.Column('symptoms', sa.JSON(), nullable=False),
    sa.Column('symptoms_other', sa.String(length=200), nullable=True),
    sa.Column('general', sa.JSON(), nullable=False),
    sa.Column('lifestyle', sa.JSON(), nullable=False),
    sa.Column('organ_function', sa.JSON(), nullable=False),
    sa.Column('physical_exam', sa.JSON(), nullable=False),
    sa.Column('auxiliary', sa.JSON(), nullable=False),
    sa.Column('health_problems', sa.JSON(), nullable=False),
    sa.Column('hospital_history', sa.JSON(), nullable=False),
    sa.Column('medications', sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('vaccinations', sa.JSON(), nullable=False),
    sa.Column('evaluation', sa.JSON(), nullable=False),
    sa.Column('guidance', sa.JSON(), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['staff.id'], name=op.f('fk_health_checks_recorded_by_id_staff')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_health_checks_resident_id_residents')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_health_checks_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_checks'))
    )
    with op.batch_alter_table('health_checks', schema=None) as batch_op:
        batch_op.create_index('ix_health_checks_checked', ['checked_on'], unique=False)
        batch_op.create_index('ix_health_checks_resident_checked', ['resident_id', 'checked_on'], unique=False)

    op.create_table('referrals',
    sa.Column('follow_up_id', sa.String(length=36), nullable=False),
    sa.Column('resident_id', sa.String(length=36), nullable=False),
    sa.Column('disease', sa.String(length=16), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('to_institution_id', sa.String(length=36), nullable=True),
    sa.Column('to_institution_name', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=50), nullable=True),
    sa.Column('referred_on', sa.Date(), nullable=False),
    sa.Column('referred_by_id', sa.String(length=36), nullable=True),
    sa.Column('team_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=True),
    sa.Column('received_by_id', sa.String(length=36), nullable=True),
    sa.Column('returned_on', sa.Date(), nullable=True),
    sa.Column('result', sa.String(length=1000), nullable=True),
    sa.Column('diagnosis', sa.String(length=200), nullable=True),
    sa.Column('result_by_id', sa.String(length=36), nullable=True),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['follow_up_id'], ['follow_ups.id'], name=op.f('fk_referrals_follow_up_id_follow_ups')),
    sa.ForeignKeyConstraint(['received_by_id'], ['staff.id'], name=op.f('fk_referrals_received_by_id_staff')),
    sa.ForeignKeyConstraint(['referred_by_id'], ['staff.id'], name=op.f('fk_referrals_referred_by_id_staff')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_referrals_resident_id_residents')),
    sa.ForeignKeyConstraint(['result_by_id'], ['staff.id'], name=op.f('fk_referrals_result_by_id_staff')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_referrals_team_id_teams')),
    sa.ForeignKeyConstraint(['to_institution_id'], ['institutions.id'], name=op.f('fk_referrals_to_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('follow_up_id', name=op.f('uq_referrals_follow_up_id'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index('ix_referrals_team_status', ['team_id', 'status'], unique=False)
        batch_op.create_index('ix_referrals_to_institution_status', ['to_institution_id', 'status'], unique=False)

    with op.batch_alter_table('contract_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('health_check', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('symptoms_other', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('target_weight_kg', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('bmi', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('target_bmi', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('dorsalis_pedis_pulse', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('other_signs', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('lifestyle', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('hba1c', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('hba1c_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('other_exams', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('adverse_reaction_detail', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('hypoglycemia', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('medications', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('insulin', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('referral', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.drop_column('referral')
        batch_op.drop_column('insulin')
        batch_op.drop_column('medications')
        batch_op.drop_column('hypoglycemia')
        batch_op.drop_column('adverse_reaction_detail')
        batch_op.drop_column('other_exams')
        batch_op.drop_column('hba1c_on')
        batch_op.drop_column('hba1c')
        batch_op.drop_column('lifestyle')
        batch_op.drop_column('other_signs')
        batch_op.drop_column('dorsalis_pedis_pulse')
        batch_op.drop_column('target_bmi')
        batch_op.drop_column('bmi')
        batch_op.drop_column('target_weight_kg')
        batch_op.drop_column('symptoms_other')

    with op.batch_alter_table('contract_items', schema=None) as batch_op:
        batch_op.drop_column('health_check')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_to_institution_status')
        batch_op.drop_index('ix_referrals_team_status')
        batch_op.drop_index(batch_op.f('ix_referrals_resident_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('health_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_health_checks_resident_checked')
        batch_op.drop_index('ix_health_checks_checked')

    op.drop_table('health_checks')
